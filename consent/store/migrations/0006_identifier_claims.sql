-- Claiming identifiers inside the statement that creates their subjects.
--
-- A batch of consent writes for new visitors used to take a transaction of five round trips:
-- lock the identifiers, look them up, create the subjects, write, commit. The writer now looks
-- the identifiers up beforehand, outside any transaction, and sends one statement that creates
-- the subjects and writes everything. This function, called from that statement, keeps it from
-- creating a second subject for an identifier: it takes the same advisory locks as the locking
-- path (`consent.store.vault.lock_identifiers`), then looks again with a fresh snapshot (a
-- volatile PL/pgSQL function reads with a new one per query under READ COMMITTED). Any subject
-- holding one of these blind indexes that the writer did not see is a concurrent creation (or
-- a new collision of truncated indexes): the function raises, the statement is undone, and the
-- writer redoes the batch on the locking path, which sorts out who is who.

CREATE FUNCTION claim_identifiers(kinds text[], blind_indexes bytea[], seen uuid[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended(k || ':' || encode(b, 'hex'), 0) AS h
          FROM unnest(kinds, blind_indexes) AS t(k, b)
    ) AS locks ORDER BY h;
    IF EXISTS (
        SELECT 1
          FROM subject_identifiers i
          JOIN unnest(kinds, blind_indexes) AS w(kind, blind_index)
            ON i.kind = w.kind AND i.blind_index = w.blind_index
         WHERE i.subject_id <> ALL (seen)
    ) THEN
        RAISE EXCEPTION 'an identifier of this batch was claimed concurrently' USING ERRCODE = 'CN409';
    END IF;
    RETURN true;
END $$;
