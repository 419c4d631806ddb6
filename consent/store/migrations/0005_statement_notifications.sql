-- Consent-state notifications per statement instead of per row.
--
-- A batch of consent writes changes dozens of state and facts rows in one statement; a row
-- trigger ran PL/pgSQL and queued a notification for each of them. Statement triggers see
-- every changed row at once (transition tables) and send the distinct subject ids as
-- comma-separated payloads, 200 per notification (a payload holds at most 8000 bytes).
-- Listeners split the payload; a single id, as before, is a list of one.

CREATE FUNCTION notify_consent_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_state', string_agg(subject_id::text, ','))
       FROM (SELECT subject_id, (row_number() OVER ()) / 200 AS chunk
               FROM (SELECT DISTINCT subject_id FROM changed) AS distinct_subjects) AS numbered
      GROUP BY chunk;
    RETURN NULL;
END $$;

DROP TRIGGER consent_state_notify ON consent_state;
DROP TRIGGER subject_facts_notify ON subject_facts;
DROP FUNCTION notify_consent_change();

-- A trigger with a transition table serves one event, hence three per table.
CREATE TRIGGER consent_state_inserted AFTER INSERT ON consent_state
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
CREATE TRIGGER consent_state_updated AFTER UPDATE ON consent_state
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
CREATE TRIGGER consent_state_deleted AFTER DELETE ON consent_state
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
CREATE TRIGGER subject_facts_inserted AFTER INSERT ON subject_facts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
CREATE TRIGGER subject_facts_updated AFTER UPDATE ON subject_facts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
CREATE TRIGGER subject_facts_deleted AFTER DELETE ON subject_facts
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_consent_changes();
