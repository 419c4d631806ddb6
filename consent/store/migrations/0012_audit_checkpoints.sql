-- The audit trail becomes insert-only and is sealed by signed checkpoints instead of a per-row chain.
--
-- Before: a sealer rewrote every entry once to set seq/prev_hash/entry_hash (a second heap tuple per
-- write), with unkeyed hashes and an unguarded head that the service's own role could rewrite.
-- Now: an entry is written once and never touched. The database gives it a `position` as it is
-- inserted; a checkpoint (audit_checkpoints) states the Merkle root of the entries after the previous
-- checkpoint up to a position, the previous checkpoint's hash, and an Ed25519 signature by a key
-- that never enters the database (consent/service/audit_sealing.py, crypto/_audit_checkpoint.py).

DROP TRIGGER audit_log_no_update ON audit_log;
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION audit_log_guard();
DROP TABLE audit_head;
DROP INDEX audit_log_unsealed;

-- Existing entries keep their order: the old chain's first, then the pending ones as they were written.
CREATE SEQUENCE audit_log_position AS bigint;
ALTER TABLE audit_log ADD COLUMN position bigint;
UPDATE audit_log AS a SET position = o.n
  FROM (SELECT id, row_number() OVER (ORDER BY seq NULLS LAST, recorded_at, id) AS n FROM audit_log) AS o
 WHERE a.id = o.id;
SELECT setval('audit_log_position', coalesce(max(position), 0) + 1, false) FROM audit_log;
ALTER SEQUENCE audit_log_position OWNED BY audit_log.position;
ALTER TABLE audit_log
    ALTER COLUMN position SET NOT NULL,
    ADD CONSTRAINT audit_log_position_key UNIQUE (position),
    DROP COLUMN seq,
    DROP COLUMN prev_hash,
    DROP COLUMN entry_hash,
    DROP COLUMN sealed_at;

-- The position is assigned here, never by the writer. The transaction takes its xid BEFORE it draws
-- a position: the sealer relies on it (a position drawn before it reads the sequence belongs to a
-- transaction its snapshot lists as running or finished, so it can wait for exactly those).
CREATE FUNCTION audit_log_position_assign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.position IS NOT NULL THEN
        RAISE EXCEPTION 'audit_log.position is assigned by the database' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_current_xact_id();
    NEW.position := nextval('audit_log_position');
    RETURN NEW;
END $$;

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is insert-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_assign_position BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_position_assign();
CREATE TRIGGER audit_log_insert_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- One row per checkpoint. `token` (the signed compact JWS) is the checkpoint; the other columns repeat
-- what it states so the sealer can find its place, and `consent audit verify` checks they agree.
CREATE TABLE audit_checkpoints (
    seq bigint PRIMARY KEY CHECK (seq >= 1),
    last_position bigint NOT NULL UNIQUE,
    size bigint NOT NULL,
    checkpoint_hash bytea NOT NULL UNIQUE,
    token text NOT NULL,
    signed_at timestamptz NOT NULL
);

CREATE TRIGGER audit_checkpoints_insert_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
