-- The personal data vault. No column holds a plaintext personal value: identifiers are kept as
-- blind indexes (truncated HMACs) plus ciphertext, personal fields as ciphertext under the
-- subject's data key, and that key only wrapped by a master key kept outside the database.
-- Every table is keyed by subject_id first so it can be distributed by subject.

CREATE TABLE subjects (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL
);

-- One data key per subject, wrapped by a master key version. Deleting the row is erasure:
-- every ciphertext of the subject, here and in every backup, becomes unreadable.
CREATE TABLE subject_keys (
    subject_id uuid PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
    master_version integer NOT NULL,
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL,
    rewrapped_at timestamptz
);

CREATE INDEX subject_keys_by_master_version ON subject_keys (master_version, subject_id);

-- Lookup identifiers (user_id, email, phone, device_id). Blind indexes are truncated on purpose,
-- so several subjects may share one; a lookup confirms candidates by decrypting `ciphertext`.
CREATE TABLE subject_identifiers (
    kind text NOT NULL CHECK (kind IN ('user_id', 'email', 'phone', 'device_id')),
    blind_index bytea NOT NULL,
    subject_id uuid NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (kind, blind_index, subject_id)
);

CREATE INDEX subject_identifiers_by_subject ON subject_identifiers (subject_id);

-- Personal fields, one ciphertext each (name, email, phone, address, attributes as one document).
CREATE TABLE personal_records (
    subject_id uuid NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    field text NOT NULL,
    ciphertext bytea NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (subject_id, field)
);

-- What remains of an erased subject: its id and when. A restored backup replays these
-- before serving, so an erasure is never undone by a restore.
CREATE TABLE erasure_tombstones (
    subject_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL
);

-- Master key versions the database has seen, and which are retired (no data key may use them).
CREATE TABLE master_key_versions (
    version integer PRIMARY KEY,
    first_used_at timestamptz NOT NULL,
    retired_at timestamptz
);

-- Instances cache unwrapped data keys; an erasure tells every one of them to drop the key at once.
CREATE FUNCTION notify_subject_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_subject_keys', OLD.subject_id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER subject_keys_notify AFTER DELETE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION notify_subject_key_change();

-- Instances cache identifier -> subject matches (and misses): a removed identifier must stop
-- matching everywhere ("D"), and a new one must no longer be remembered as unknown ("I").
CREATE FUNCTION notify_identifier_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('consent_identifiers', 'D');
    ELSE
        PERFORM pg_notify('consent_identifiers', 'I');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER subject_identifiers_notify AFTER INSERT OR DELETE ON subject_identifiers
    FOR EACH STATEMENT EXECUTE FUNCTION notify_identifier_change();
