-- wrk script for benches/http_leases.sh: POST /v1/sites/bench/sessions with a paid-traffic
-- page URL and a new visitor id per request, so every request is a fresh pool grant.
local counter = 0
thread_id = 0 -- global: setup() sets it per thread
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

function request()
  counter = counter + 1
  local body = string.format(
    '{"visitor_id":"v%d-%d","page_url":"https://shop.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=bench&gclid=g%d","referrer":"https://www.google.com/"}',
    thread_id, counter, counter)
  return wrk.format(nil, "/v1/sites/bench/sessions", nil, body)
end

local created, other = 0, 0
function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests/s: %.0f  (%d requests in %.1f s, non-2xx/socket errors: %d)\n",
    summary.requests / (summary.duration / 1e6), summary.requests, summary.duration / 1e6, errors))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
