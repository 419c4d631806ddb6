-- The foundation: API keys and the hash-chained audit log.

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    scope text NOT NULL CHECK (scope IN ('collect', 'check', 'dsr', 'admin')),
    -- Browser origins a publishable (collect) key may be used from; empty for secret keys.
    origins text[] NOT NULL DEFAULT '{}',
    -- SHA-256 of the token: tokens are 256-bit random secrets, so a fast hash is enough.
    token_hash bytea NOT NULL UNIQUE,
    -- The token's first characters, to recognise a key in listings without revealing it.
    token_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Every instance caches keys; a change is announced so each drops its copy at once.
CREATE FUNCTION notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_api_keys', NEW.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_api_key_change();

-- Audit entries are written inside the caller's transaction with only their content hash;
-- a background sealer links committed entries into the chain in batches (seq, prev_hash,
-- entry_hash), so the chain never serialises the service's writes.
CREATE TABLE audit_log (
    id uuid PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target jsonb NOT NULL,
    detail jsonb NOT NULL,
    content_hash bytea NOT NULL,
    seq bigint UNIQUE,
    prev_hash bytea,
    entry_hash bytea,
    sealed_at timestamptz
);

CREATE INDEX audit_log_unsealed ON audit_log (recorded_at, id) WHERE seq IS NULL;

-- The last sealed link, so that deleting the newest entries is detected too.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq bigint NOT NULL,
    entry_hash bytea NOT NULL
);

-- Append-only: content never changes, a link is set once, nothing is deleted.
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit_log is append-only';
    END IF;
    IF OLD.seq IS NOT NULL
       OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.recorded_at IS DISTINCT FROM OLD.recorded_at
       OR NEW.actor IS DISTINCT FROM OLD.actor
       OR NEW.action IS DISTINCT FROM OLD.action
       OR NEW.target IS DISTINCT FROM OLD.target
       OR NEW.detail IS DISTINCT FROM OLD.detail
       OR NEW.content_hash IS DISTINCT FROM OLD.content_hash THEN
        RAISE EXCEPTION 'audit_log entries cannot be changed once written';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();
