-- Partial erasures, kept for replay into a restored backup.
--
-- An erasure that must keep some data (a legal hold, or a retention obligation of the policy)
-- cannot destroy the subject's data key: it deletes the personal-record fields and identifiers it
-- does not keep instead. It left no tombstone, so a backup from before it, once restored, brought
-- those fields back readable, and `consent erasures replay` had nothing to apply. Each partial
-- erasure now records which fields it kept (`*`: every field, under a hold on everything); the
-- export lists it beside the tombstones, and a replay deletes again what it did not keep.
-- Nothing personal: field names only.

CREATE TABLE partial_erasures (
    subject_id uuid NOT NULL,
    erased_at timestamptz NOT NULL,
    kept_fields text[] NOT NULL,
    PRIMARY KEY (subject_id, erased_at)
);
