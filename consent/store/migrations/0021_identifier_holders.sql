-- Claiming identifiers without a lookup beforehand: the holders are reported instead of an error.
--
-- A request for a person the service has not seen yet cost two round trips: a lookup of the
-- identifier, then the statement that receives the request and creates the subject, claiming its
-- identifier (`claim_identifiers`, migration 0006, which raises when another subject holds it).
-- Under load the lookup cost a third of the request's CPU. The request statement now creates the
-- subject of an identifier the process does not know without looking first, and calls this
-- function: it takes the same advisory locks as `claim_identifiers` (and as the locking path,
-- `consent.store.vault.lock_identifiers`), in the same order, then returns the identifiers held by
-- subjects the caller did not see, read with a fresh snapshot (a volatile PL/pgSQL function reads
-- with a new one per query under READ COMMITTED). The statement skips what is held; the caller
-- looks those identifiers up and sends their requests again with the subject it finds.

CREATE FUNCTION claim_or_report_identifiers(kinds text[], blind_indexes bytea[], seen uuid[])
RETURNS TABLE (kind text, blind_index bytea)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended(k || ':' || encode(b, 'hex'), 0) AS h
          FROM unnest(kinds, blind_indexes) AS t(k, b)
    ) AS locks ORDER BY h;
    RETURN QUERY
        SELECT DISTINCT i.kind, i.blind_index
          FROM subject_identifiers i
          JOIN unnest(kinds, blind_indexes) AS w(kind, blind_index)
            ON i.kind = w.kind AND i.blind_index = w.blind_index
         WHERE i.subject_id <> ALL (seen);
END $$;
