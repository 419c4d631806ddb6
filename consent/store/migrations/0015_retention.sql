-- Retention, and the request queue at scale.
--
-- Retention, enforced by housekeeping: personal-record fields past their data category's
-- retention are found by age, and request records closed longer ago than the 24 months CCPA
-- regulations §7101 ask for are found by the day they closed. Open requests are never deleted.
CREATE INDEX personal_records_by_age ON personal_records (updated_at);
CREATE INDEX requests_closed ON requests ((coalesce(completed_at, rejected_at)))
    WHERE state IN ('completed', 'rejected');

-- The queue's pages are read in id order. The pool plans each statement once for any parameters,
-- so a page of open requests (the newest few, at the far end of that order) would walk the whole
-- table; this index holds them alone, in id order (consent/store/requests.py `list_requests`).
CREATE INDEX requests_open ON requests (id) WHERE state IN ('received', 'verified', 'in_progress');
