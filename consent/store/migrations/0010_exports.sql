-- Access and portability exports: one zip per request, encrypted under the subject's data key
-- (erasing the subject makes it unreadable at once), downloadable once through a link whose
-- token is the credential. Only the SHA-256 of the token is stored, with the random nonce it is
-- derived from under the subject's data key (`crypto.link_token`): with database access alone
-- nobody can rebuild a link. The archive is dropped when it is downloaded or when it expires; the
-- row stays a while longer so a used or expired link can say so, then housekeeping deletes it.

CREATE TABLE exports (
    id uuid PRIMARY KEY,
    -- One export per request: a job that builds again finds the first.
    request_id uuid NOT NULL UNIQUE,
    subject_id uuid NOT NULL,
    token_nonce bytea NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    archive_ciphertext bytea,
    archive_size integer NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    downloaded_at timestamptz,
    CHECK (downloaded_at IS NULL OR archive_ciphertext IS NULL)
);

CREATE INDEX exports_by_expiry ON exports (expires_at);
CREATE INDEX exports_by_subject ON exports (subject_id);

-- CCPA: an access request covers the last 12 months unless the person asks for everything since
-- 1 January 2022 (Cal. Code Regs. tit. 11, §7024(h)).
ALTER TABLE requests ADD COLUMN full_history boolean NOT NULL DEFAULT false;
