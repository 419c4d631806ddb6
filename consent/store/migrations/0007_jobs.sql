-- Background work leased from PostgreSQL: a generic job queue, and the outbox made leasable and
-- acknowledgeable so webhooks reach every recipient exactly once in effect.
--
-- Leasing works the same way for both tables: a worker takes due rows with FOR UPDATE SKIP LOCKED
-- and moves their due time (`run_at`, `next_attempt_at`) to the end of its lease. A lease is thus
-- just "not due yet": one partial index finds due work, and a crashed worker's rows become due
-- again when its lease lapses, for any instance to take over. Finishing a row checks that the
-- worker still holds it (`leased_by`), so a worker whose lease lapsed cannot overwrite the outcome
-- of the one that took over.

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    -- A step is enqueued once: enqueueing the same key again is a no-op.
    dedupe_key text NOT NULL UNIQUE,
    -- The subject a step works on, if any, so jobs are keyable by subject like every subject table.
    subject_id uuid,
    -- Ids, kinds and counts only, never a personal value.
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    run_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    leased_by text,
    leased_until timestamptz,
    -- The error's type and a fixed message, never a value from the payload's subject.
    last_error text,
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'pending';
CREATE INDEX jobs_by_subject ON jobs (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'done';

-- The outbox: `pending` until the recipient answers 2xx (`delivered`), `acknowledged` once it
-- confirms (by that answer where the policy says so, else by the ack call), `failed` when the
-- retries ran out, until a human puts it back. The recording's insert is unchanged: a new row is
-- pending by default, and the due index is swapped for one on the same column.
ALTER TABLE outbox
    ADD COLUMN state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'acknowledged', 'failed')),
    ADD COLUMN leased_by text,
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN acknowledged_at timestamptz;

DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
-- Acknowledged rows are purged once old (housekeeping); a delivered order still awaits its ack.
CREATE INDEX outbox_acknowledged ON outbox (acknowledged_at) WHERE state = 'acknowledged';

-- A consent past its lifetime is shown in the change feed and the history as an `expired` event
-- written by the service itself (source `system`). The state row keeps the grant: the decision
-- engine already answers `expired` for it at check time. The new checks only widen the old ones,
-- so the rows already stored need no scan (NOT VALID).
ALTER TABLE consent_events
    DROP CONSTRAINT consent_events_status_check,
    DROP CONSTRAINT consent_events_source_check,
    ADD CONSTRAINT consent_events_status_check
        CHECK (status IN ('granted', 'denied', 'withdrawn', 'expired')) NOT VALID,
    ADD CONSTRAINT consent_events_source_check
        CHECK (source IN ('banner', 'api', 'import', 'gpc', 'request', 'system')) NOT VALID;
