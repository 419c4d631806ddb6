-- wrk script for requests with a body or numbered headers (tests/bench/_wrk.py sets the environment).
--   BENCH_METHOD     the HTTP method, e.g. POST
--   BENCH_BODY_FILE  a file holding the request body, sent as is (unset: no body)
--   BENCH_RUN        a token unique to this wrk run
-- Headers come from wrk's own -H options. Every "${n}" in the body becomes
-- "<BENCH_RUN>-<request number>", so a scenario can send a new subject per
-- request (e.g. uncached checks, or one consent record per visitor). Every
-- "${net}" in a header becomes "<a>.<b>", counting up with each request, so
-- `X-Forwarded-For: 10.${net}.1` names another /24 network each time.

wrk.method = os.getenv("BENCH_METHOD") or "POST"

local body = nil
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file then
  local file = assert(io.open(body_file, "rb"))
  body = file:read("*a")
  file:close()
end

local numbered_body = body ~= nil and body:find("${n}", 1, true) ~= nil
local numbered_headers = false
for _, value in pairs(wrk.headers) do
  if value:find("${net}", 1, true) then numbered_headers = true end
end

if numbered_body or numbered_headers then
  local run = os.getenv("BENCH_RUN") or "run"
  local counter = 0
  function request()
    counter = counter + 1
    local sent = body
    if numbered_body then sent = body:gsub("%${n}", run .. "-" .. counter) end
    local headers = wrk.headers
    if numbered_headers then
      local net = math.floor(counter / 256) % 256 .. "." .. counter % 256
      headers = {}
      for name, value in pairs(wrk.headers) do headers[name] = value:gsub("%${net}", net) end
    end
    return wrk.format(nil, nil, headers, sent)
  end
else
  wrk.body = body
end
