-- Retention, enforced by housekeeping: personal-record fields past their data category's
-- retention are found by age, and request records closed longer ago than the 24 months CCPA
-- regulations §7101 ask for are found by the day they closed. Open requests are never deleted.
CREATE INDEX personal_records_by_age ON personal_records (updated_at);
CREATE INDEX requests_closed ON requests ((coalesce(completed_at, rejected_at)))
    WHERE state IN ('completed', 'rejected');
