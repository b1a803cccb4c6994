CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fg_outbox', '');
    RETURN NULL;
END;
$$;

DROP TABLE IF EXISTS outbox_sleepers;
