-- Policy versions: every applied catalogue is kept, with its text and digest, so each consent
-- event can be traced to the exact rules and notices it was given under.

CREATE TABLE policy_versions (
    version integer PRIMARY KEY,
    digest text NOT NULL,
    source text NOT NULL,
    document text NOT NULL,
    applied_at timestamptz NOT NULL,
    applied_by text NOT NULL,
    active boolean NOT NULL DEFAULT false
);

CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (active) WHERE active;

-- Every instance holds the active policy in memory and reloads it when another version is applied.
CREATE FUNCTION notify_policy_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.active THEN
        PERFORM pg_notify('consent_policy', NEW.version::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER policy_versions_notify AFTER INSERT OR UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION notify_policy_change();
