DROP TABLE IF EXISTS external_auth_users;
