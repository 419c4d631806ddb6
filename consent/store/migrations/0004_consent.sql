-- Consent: the append-only event history, the current state derived from it, subject-level
-- facts, idempotency records and the outbox to recipients.

CREATE TABLE consent_events (
    subject_id uuid NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    purpose text NOT NULL,
    status text NOT NULL CHECK (status IN ('granted', 'denied', 'withdrawn')),
    action text NOT NULL,
    source text NOT NULL CHECK (source IN ('banner', 'api', 'import', 'gpc', 'request')),
    jurisdiction text NOT NULL,
    language text,
    property text NOT NULL,
    notice_version integer NOT NULL,
    policy_version integer NOT NULL,
    gpc boolean NOT NULL,
    client_at timestamptz,
    recorded_at timestamptz NOT NULL,
    receipt_id uuid,
    -- Proof of how the choice was collected: API key, request id, truncated IP, hashed user agent,
    -- decoded TCF string. Never a raw IP address.
    proof jsonb NOT NULL,
    -- The writing transaction: the change feed hands out events only once every transaction
    -- below the oldest one still running has finished, so a follower never skips a late commit.
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (subject_id, id)
);

CREATE INDEX consent_events_feed ON consent_events (txid, id);

-- The current choice per subject and purpose; what the check path reads.
CREATE TABLE consent_state (
    subject_id uuid NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    status text NOT NULL CHECK (status IN ('granted', 'denied', 'withdrawn')),
    notice_version integer NOT NULL,
    recorded_at timestamptz NOT NULL,
    by_guardian boolean NOT NULL DEFAULT false,
    event_id uuid NOT NULL,
    PRIMARY KEY (subject_id, purpose)
);

CREATE INDEX consent_state_by_purpose ON consent_state (purpose, notice_version);

-- Facts that cut across purposes (a recorded GPC opt-out, objections).
CREATE TABLE subject_facts (
    subject_id uuid PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
    gpc_opt_out_at timestamptz,
    direct_marketing_objected_at timestamptz,
    objected_purposes text[] NOT NULL DEFAULT '{}',
    -- Where the subject last made a choice: the default jurisdiction of checks that name none.
    jurisdiction text
);

-- Every committed consent change names its subject, so each instance drops its cached state.
CREATE FUNCTION notify_consent_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_state', coalesce(NEW.subject_id, OLD.subject_id)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER consent_state_notify AFTER INSERT OR UPDATE OR DELETE ON consent_state
    FOR EACH ROW EXECUTE FUNCTION notify_consent_change();
CREATE TRIGGER subject_facts_notify AFTER INSERT OR UPDATE OR DELETE ON subject_facts
    FOR EACH ROW EXECUTE FUNCTION notify_consent_change();

-- Idempotency-Key: the first response to a key is replayed for the same body.
CREATE TABLE idempotency_keys (
    api_key_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    status integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Messages to recipients, written in the same transaction as the change they announce.
CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    recipient text NOT NULL,
    subject_id uuid NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    delivered_at timestamptz,
    last_error text
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_by_subject ON outbox (subject_id);
