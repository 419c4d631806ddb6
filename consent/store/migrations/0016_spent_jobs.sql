-- A lease parks the jobs whose lease lapsed during their last attempt (consent/store/jobs.py
-- `LEASE`, its `spent` part). Without an index of its own, that part read every due pending job
-- at each lease: with thousands of requests waiting, a lease cost milliseconds, twenty times a
-- second per instance. Such jobs are rare, so this index is nearly always empty.
CREATE INDEX jobs_spent ON jobs (run_at) WHERE state = 'pending' AND attempts >= max_attempts;
