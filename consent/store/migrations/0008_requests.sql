-- Data subject requests: the request record, one-time verification codes, and one delivery per
-- recipient. No personal value is stored here: the subject is referenced by id (found or created
-- through the blind-index lookup), and a note or corrected fields are ciphertexts under the
-- subject's data key, which erasure destroys. The record itself is kept for the 24 months CCPA
-- regulations §7101 ask for, so it has no foreign key to `subjects` that could cascade it away.

CREATE TABLE requests (
    id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    type text NOT NULL
        CHECK (type IN ('access', 'portability', 'erasure', 'rectification', 'opt_out', 'restrict', 'object')),
    state text NOT NULL CHECK (state IN ('received', 'verified', 'in_progress', 'completed', 'rejected')),
    jurisdiction text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('web', 'email', 'phone', 'mail', 'in_person')),
    verification text NOT NULL CHECK (verification IN ('trusted', 'code', 'none')),
    approval text NOT NULL CHECK (approval IN ('automatic', 'manual')),
    purposes text[] NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL,
    acknowledge_by date,
    due_at date NOT NULL,
    extended boolean NOT NULL DEFAULT false,
    extension_reason text,
    verified_at timestamptz,
    approved_at timestamptz,
    approved_by text,
    completed_at timestamptz,
    rejected_at timestamptz,
    rejection_reason text,
    note_ciphertext bytea,
    corrections_ciphertext bytea,
    created_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK (state <> 'rejected' OR rejection_reason IS NOT NULL),
    CHECK (extended = (extension_reason IS NOT NULL))
);

-- One open request per subject and type: a duplicate insert conflicts here, however concurrent.
CREATE UNIQUE INDEX requests_one_open ON requests (subject_id, type)
    WHERE state IN ('received', 'verified', 'in_progress');
-- The compliance queue's filters, each paged by id (UUIDv7: the order of receipt).
CREATE INDEX requests_by_state ON requests (state, id);
CREATE INDEX requests_by_type ON requests (type, id);
CREATE INDEX requests_open_by_due ON requests (due_at, id) WHERE state IN ('received', 'verified', 'in_progress');
CREATE INDEX requests_by_received ON requests (received_at);

-- A one-time code the person proves their identity with: only its salted SHA-256 is kept.
CREATE TABLE request_verifications (
    request_id uuid PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    salt bytea NOT NULL,
    code_hash bytea NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    used_at timestamptz
);

-- What each recipient was ordered to do for a request, and whether it acknowledged.
CREATE TABLE request_deliveries (
    request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    recipient text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'sent', 'acknowledged', 'failed')),
    created_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    PRIMARY KEY (request_id, recipient)
);

-- The sources of the decision engine's minor rules. A recording says whether a guardian gave it
-- (kept on the event as proof, and on the state the check reads); the personal record's birth
-- date is copied to the subject's facts when written, so a check reads the age in the same row
-- it already reads; erasing the subject clears it with the keys.
ALTER TABLE consent_events ADD COLUMN by_guardian boolean NOT NULL DEFAULT false;
ALTER TABLE subject_facts ADD COLUMN birth_date date;
