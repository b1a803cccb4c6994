-- Runs once, when the postgres data volume is first initialised
-- (docker-entrypoint-initdb.d), as POSTGRES_USER against POSTGRES_DB.
-- The SuperTokens core keeps its tables in a database of its own so they
-- never mix with Fowergram's schema or its migrations.
CREATE DATABASE supertokens OWNER fowergram;
