-- The identifier checks of a write read subject_identifiers through its indexes, never by a scan.
--
-- Three functions ask whether some identifier row exists: `claim_identifiers` (migration 0006) and
-- `claim_or_report_identifiers` (0021) for the blind indexes a batch is about to claim, and
-- `refuse_linked_subjects` (0011) for an identifier other than a device id on the subjects a
-- publishable key writes for. Written as EXISTS over a join or an `= ANY (array)` filter, their
-- queries left the plan to the planner, and PL/pgSQL keeps a generic plan per session. Under a
-- recording load the planner chose a sequential scan of the whole table: an EXISTS is planned to
-- stop at its first row, and it expects one early; there is none, so every batch read every row
-- (856 scans and 28.5 million rows in 5 seconds at 40,000 identifiers, the largest share of the
-- database's CPU, and growing with the table).
--
-- Each check now looks each wanted key up on its own: a LATERAL subquery with LIMIT 1 cannot be
-- pulled up into a join, so it runs as a nested loop over the (few) wanted keys, each one an index
-- probe (the primary key's (kind, blind_index) prefix, or subject_identifiers_by_subject). What the
-- functions answer is unchanged; so are their locks, taken in the same order as before.
--
-- Those locks are now one function, `lock_identifiers`, which the service's locking path calls too
-- (`consent.store.vault`): every creator of an identifier locks it under the same key, in the same
-- order, from one definition.

CREATE FUNCTION lock_identifiers(kinds text[], blind_indexes bytea[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended(k || ':' || encode(b, 'hex'), 0) AS h
          FROM unnest(kinds, blind_indexes) AS t(k, b)
    ) AS locks ORDER BY h;
END $$;

CREATE OR REPLACE FUNCTION claim_identifiers(kinds text[], blind_indexes bytea[], seen uuid[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM lock_identifiers(kinds, blind_indexes);
    IF EXISTS (
        SELECT 1
          FROM unnest(kinds, blind_indexes) AS w(kind, blind_index)
         CROSS JOIN LATERAL (
               SELECT 1 FROM subject_identifiers i
                WHERE i.kind = w.kind AND i.blind_index = w.blind_index AND i.subject_id <> ALL (seen)
                LIMIT 1
         ) AS held
    ) THEN
        RAISE EXCEPTION 'an identifier of this batch was claimed concurrently' USING ERRCODE = 'CN409';
    END IF;
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION claim_or_report_identifiers(kinds text[], blind_indexes bytea[], seen uuid[])
RETURNS TABLE (kind text, blind_index bytea)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM lock_identifiers(kinds, blind_indexes);
    RETURN QUERY
        SELECT w.k, w.b
          FROM (SELECT DISTINCT t.k, t.b FROM unnest(kinds, blind_indexes) AS t(k, b)) AS w
         CROSS JOIN LATERAL (
               SELECT 1 FROM subject_identifiers i
                WHERE i.kind = w.k AND i.blind_index = w.b AND i.subject_id <> ALL (seen)
                LIMIT 1
         ) AS held;
END $$;

CREATE OR REPLACE FUNCTION refuse_linked_subjects(subject_ids uuid[]) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF cardinality(subject_ids) > 0 AND EXISTS (
        SELECT 1
          FROM unnest(subject_ids) AS s(id)
         CROSS JOIN LATERAL (
               SELECT 1 FROM subject_identifiers i WHERE i.subject_id = s.id AND i.kind <> 'device_id' LIMIT 1
         ) AS linked
    ) THEN
        RAISE EXCEPTION 'a publishable key wrote for a subject linked to an account' USING ERRCODE = 'CN403';
    END IF;
    RETURN true;
END $$;
