-- A publishable (collect) key writes only for anonymous devices (issue 13): never for a subject that
-- holds any identifier besides device ids, such as a device linked to a signed-in account. The
-- batch statement (consent/store/consent_batch.py) calls this with the subjects its publishable
-- writes name; it raises, and the statement is undone, if one of them is such a subject. Reading
-- `subject_identifiers_by_subject` for a handful of ids costs a few index probes per batch.

CREATE FUNCTION refuse_linked_subjects(subject_ids uuid[]) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF cardinality(subject_ids) > 0 AND EXISTS (
        SELECT 1 FROM subject_identifiers WHERE subject_id = ANY (subject_ids) AND kind <> 'device_id'
    ) THEN
        RAISE EXCEPTION 'a publishable key wrote for a subject linked to an account' USING ERRCODE = 'CN403';
    END IF;
    RETURN true;
END $$;
