-- Identifier notifications only from statements that added or removed identifiers.
--
-- The statement trigger of migration 0003 notified `consent_identifiers` after every INSERT or
-- DELETE statement, including those that touched no row. A recording batch and a received request
-- create any new subjects in one statement whose identifier INSERT is empty when every subject is
-- known, so each of them notified: a notifying commit takes PostgreSQL's global notification lock
-- through its WAL flush (commits queue behind one another), and every listening connection of every
-- instance woke up to forget its remembered misses for nothing. Transition tables tell whether a
-- row was added or removed; the payloads are unchanged ('I' added, 'D' removed).

-- One function for both triggers: each names its transition table `changed` (as migration 0005 does).
CREATE FUNCTION notify_identifier_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('consent_identifiers', CASE TG_OP WHEN 'DELETE' THEN 'D' ELSE 'I' END);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER subject_identifiers_notify ON subject_identifiers;
DROP FUNCTION notify_identifier_change();

CREATE TRIGGER subject_identifiers_added AFTER INSERT ON subject_identifiers
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_identifier_rows();
CREATE TRIGGER subject_identifiers_removed AFTER DELETE ON subject_identifiers
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_identifier_rows();
