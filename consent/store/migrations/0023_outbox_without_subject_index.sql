-- The outbox loses its index on subject_id, which no statement reads.
--
-- `outbox_by_subject` (migration 0004) was for an erasure deleting a subject's messages; since
-- migration 0009 that delete names only the messages still to be sent, and reads the partial index
-- `outbox_open_by_subject`. Nothing else looks for a subject's messages. Every recording writes a
-- message per recipient, so the index cost each of them an insert into the largest table's index
-- (the outbox held 4.1 GiB at 10^7 events), and deliveries and purges kept it up to date for nothing.

DROP INDEX outbox_by_subject;
