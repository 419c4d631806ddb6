-- Least privilege: the service runs as a member of `consent_service`, which may read and write rows
-- but owns nothing, so it can run no DDL and cannot alter or disable a trigger. Migrations run as the
-- owner (the role that applies this file). docs/operations.md gives the SQL that creates the roles on
-- an external server; the embedded server creates them itself (consent/store/roles.py).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'consent_service') THEN
        CREATE ROLE consent_service NOLOGIN;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO consent_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO consent_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO consent_service;

-- Tables and sequences later migrations create get the same rights; a later migration that creates an
-- insert-only table revokes UPDATE and DELETE on it, as below.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO consent_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO consent_service;

-- Insert-only: the audit trail and the consent events (erasure removes a subject's personal data and
-- destroys its data key; it never deletes an event). An event's proof is the one exception: erasure and
-- the re-keying of migration 0009 replace a plain user-agent digest in it (consent/store/erasure.py,
-- consent/store/consent_events.py), so that column alone may be updated.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_checkpoints, consent_events FROM consent_service;
GRANT UPDATE (proof) ON consent_events TO consent_service;
-- Which migrations are applied is the owner's business; the service only checks.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM consent_service;
