-- Identifier removals name the subjects whose identifiers went.
--
-- Every instance remembers which subject an identifier belongs to. A removed identifier ('D',
-- migrations 0003 and 0018) made each of them forget every match it held, since the notification
-- did not say whose identifier had gone. An erasure, a device linked to a signed-in account (its
-- identifier moves from the device's subject to the account's) or a corrected email is a removal,
-- so on a busy site the identifier caches of every instance were cold most of the time. A removal
-- now sends 'D:' and the distinct subject ids, comma-separated, 200 per notification (a payload
-- holds at most 8000 bytes), as the consent-state notifications do (migration 0005); an instance
-- forgets those subjects' matches only. Added identifiers still send 'I'.

CREATE OR REPLACE FUNCTION notify_identifier_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('consent_identifiers', 'D:' || string_agg(subject_id::text, ','))
           FROM (SELECT subject_id, (row_number() OVER ()) / 200 AS chunk
                   FROM (SELECT DISTINCT subject_id FROM changed) AS distinct_subjects) AS numbered
          GROUP BY chunk;
    ELSIF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('consent_identifiers', 'I');
    END IF;
    RETURN NULL;
END $$;
