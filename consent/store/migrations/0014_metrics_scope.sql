-- A `metrics` key scope: Prometheus reads `/metrics` with a key that can do nothing else, instead of an
-- admin key that could also create keys and read personal records.

ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check
    CHECK (scope IN ('collect', 'check', 'dsr', 'admin', 'metrics'));
