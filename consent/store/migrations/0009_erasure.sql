-- Executing erasure and rectification requests: what a request's execution did, the orders that
-- carry it to recipients, legal holds, and nothing linkable left behind by an erasure.

-- A request's work is done once `executed_at` is set, in the transaction that did it; `outcome`
-- says what was done, kept and why (ids, field and category names, never a personal value). The
-- request completes when its work is done and every recipient acknowledged its order.
ALTER TABLE requests
    ADD COLUMN executed_at timestamptz,
    ADD COLUMN outcome jsonb;

-- The outbox message carrying the order to the recipient, so each delivery outcome and each
-- acknowledgement (by the ack call or a 2xx answer) reaches the request. Rows written before this
-- migration have none.
ALTER TABLE request_deliveries ADD COLUMN event_id uuid;
CREATE UNIQUE INDEX request_deliveries_by_event ON request_deliveries (event_id) WHERE event_id IS NOT NULL;

-- A legal hold on a subject (litigation, an authority's order): erasure keeps the data categories
-- it names (none named: every category) until the hold is released (the row is deleted; its
-- creation and release stay in the audit trail).
CREATE TABLE subject_holds (
    subject_id uuid NOT NULL,
    id uuid NOT NULL,
    reason text NOT NULL,
    data_categories text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    PRIMARY KEY (subject_id, id)
);

-- Idempotency records name their subject, so an erasure deletes them by index. Rows written
-- before have it only inside the stored answer.
ALTER TABLE idempotency_keys ADD COLUMN subject_id uuid;
UPDATE idempotency_keys SET subject_id = (response->>'subject_id')::uuid
 WHERE response->>'subject_id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
CREATE INDEX idempotency_keys_by_subject ON idempotency_keys (subject_id) WHERE subject_id IS NOT NULL;

-- Outbox messages of a subject still to be sent, which an erasure deletes (but its own orders).
CREATE INDEX outbox_open_by_subject ON outbox (subject_id) WHERE state IN ('pending', 'failed');

-- Proofs used to keep the user agent as a plain SHA-256, which anyone can match against a list
-- of user agents. They now keep a keyed HMAC (`user_agent_hmac`, under a key derived from the
-- index key, which the database never sees), so this migration cannot rewrite them itself: the
-- service does, in batches, as a job at start-up (`consent.service.proof_rekeying`), finding
-- them through this index, which empties as it goes. An erasure strips them from its subject.
CREATE INDEX consent_events_plain_user_agent ON consent_events (subject_id, id) WHERE proof ? 'user_agent_sha256';
