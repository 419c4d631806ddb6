-- wrk script for requests with a body (tests/bench/_wrk.py sets the environment).
--   BENCH_METHOD     the HTTP method, e.g. POST
--   BENCH_BODY_FILE  a file holding the request body, sent as is
--   BENCH_RUN        a token unique to this wrk run
-- Headers come from wrk's own -H options. Every "${n}" in the body becomes
-- "<BENCH_RUN>-<request number>", so a scenario can send a new subject per
-- request (e.g. uncached checks, or one consent record per visitor).

wrk.method = os.getenv("BENCH_METHOD") or "POST"

local file = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"), "rb"))
local body = file:read("*a")
file:close()

if body:find("${n}", 1, true) then
  local run = os.getenv("BENCH_RUN") or "run"
  local counter = 0
  function request()
    counter = counter + 1
    local numbered = body:gsub("%${n}", run .. "-" .. counter)
    return wrk.format(nil, nil, nil, numbered)
  end
else
  wrk.body = body
end
