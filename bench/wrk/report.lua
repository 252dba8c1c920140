-- wrk script shared by every bench phase.
--
-- Environment (read in every wrk thread):
--   BENCH_METHOD     GET (default) or POST
--   BENCH_BODY_FILE  path of the JSON body to send (POST)
--   BENCH_AUTH       value of the Authorization header (optional)
--   BENCH_BODIES_FILE  path of a file of JSON bodies, one per line (POST): thread k of n
--                    sends lines k, k+n, k+2n, ... in turn (each line once per pass), so
--                    a stream of distinct bodies is split between threads, not repeated
--
-- response() counts non-2xx answers per thread and keeps the first one (status + body)
-- so a misbehaving endpoint is reported with what it said. done() prints one
-- machine-readable line, `BENCH_RESULT {json}`, that bench/common.py parses.

local method = os.getenv("BENCH_METHOD") or "GET"
wrk.method = method
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

local threads = {}
local bodies_file = os.getenv("BENCH_BODIES_FILE")
local thread_count = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  non2xx = 0
  ok2xx = 0
  first_status = 0
  first_body = ""
  if bodies_file and bodies_file ~= "" then
    bodies = {}
    -- BENCH_THREADS: wrk's -t (set by bench/common.py); each thread its share.
    local k, n, i = thread_index or 0, tonumber(os.getenv("BENCH_THREADS") or "1"), 0
    for line in io.lines(bodies_file) do
      if i % n == k then table.insert(bodies, line) end
      i = i + 1
    end
    next_body = 1
    wrk.headers["Content-Type"] = "application/json"
  end
end

if bodies_file and bodies_file ~= "" then
  function request()
    local body = bodies[next_body]
    next_body = next_body % #bodies + 1
    return wrk.format(nil, nil, nil, body)
  end
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok2xx = ok2xx + 1
  else
    non2xx = non2xx + 1
    if first_status == 0 then
      first_status = status
      first_body = string.sub(body or "", 1, 600)
    end
  end
end

local function esc(s)
  s = string.gsub(s, "\\", "\\\\")
  s = string.gsub(s, '"', '\\"')
  s = string.gsub(s, "[%c]", " ")
  return s
end

function done(summary, latency, requests)
  local bad, good, status, body = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    good = good + (t:get("ok2xx") or 0)
    local s = t:get("first_status") or 0
    if status == 0 and s ~= 0 then
      status = s
      body = t:get("first_body") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"ok2xx":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"first_bad_status":%d,"first_bad_body":"%s"}\n',
    summary.requests, summary.duration, summary.bytes,
    good, bad, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    status, esc(body)))
end
