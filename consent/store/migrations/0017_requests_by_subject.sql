-- A subject's requests, found by its id at any size of the request table.
--
-- An access export lists the subject's requests and an erasure clears the notes and corrections of
-- all of them, closed ones included; the only index by subject covered open requests
-- (`requests_one_open`), so both read the whole table: about 20 ms with 100,000 requests, the
-- request table of a shop with a million customers, and growing with it (the growth benchmark's
-- erasure, 5.8x its figure at 10^4 events). Closed requests are kept 24 months (CCPA §7101).
CREATE INDEX requests_by_subject ON requests (subject_id, received_at);
