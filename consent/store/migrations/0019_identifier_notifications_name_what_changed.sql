-- Identifier notifications name what changed: the subjects of removed identifiers, the blind
-- indexes of added ones.
--
-- Every instance remembers which subject an identifier belongs to (a match), and lookups that found
-- nothing (a miss: a check for a device that has made no choice yet must not cost a query on every
-- page view). A removal sent 'D' (migrations 0003 and 0018) and every instance forgot every match
-- it held; an addition sent 'I' and every instance forgot every miss. An erasure, a device linked
-- to a signed-in account (its identifier moves from the device's subject to the account's) or a
-- corrected email is a removal, and every new visitor's first choice an addition, so on a busy site
-- both caches of every instance were cold most of the time.
--
-- A removal now sends 'D:' and the distinct subject ids, comma-separated, 200 per notification, as
-- the consent-state notifications do (migration 0005); an addition sends 'I:' and the `kind:hex` of
-- each blind index added, about 7000 bytes of them per notification (a payload holds less than
-- 8000). An instance forgets the matches of those subjects, or the misses of those blind indexes,
-- only. Blind indexes are keyed, truncated hashes, as the table stores them.

CREATE OR REPLACE FUNCTION notify_identifier_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('consent_identifiers', 'D:' || string_agg(subject_id::text, ','))
           FROM (SELECT subject_id, (row_number() OVER ()) / 200 AS chunk
                   FROM (SELECT DISTINCT subject_id FROM changed) AS distinct_subjects) AS numbered
          GROUP BY chunk;
    ELSE
        PERFORM pg_notify('consent_identifiers', 'I:' || string_agg(tag, ','))
           FROM (SELECT tag, sum(length(tag) + 1) OVER (ORDER BY tag) / 7000 AS chunk
                   FROM (SELECT DISTINCT kind || ':' || encode(blind_index, 'hex') AS tag FROM changed) AS tags
                ) AS numbered
          GROUP BY chunk;
    END IF;
    RETURN NULL;
END $$;
