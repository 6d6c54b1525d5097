-- wrk script for benches/soak.sh: lease churn. Each connection alternates: create a visitor
-- session (a pool lease, POST /v1/sites/soak/sessions), then release it
-- (POST /v1/sessions/{id}/release), pausing between requests so the rate stays steady.
-- Visitors come back: ids cycle through VISITORS per thread, so the pool's memory of returning
-- visitors (capped at 50 000 per pool) reaches its steady size early instead of filling up
-- through the whole run.
local pending = nil
local counter = 0
local VISITORS = 5000
thread_id = 0
local threads = {}
local created, released, other = 0, 0, 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

function request()
  if pending then
    local path = "/v1/sessions/" .. pending .. "/release"
    pending = nil
    return wrk.format("POST", path, nil, "")
  end
  counter = counter + 1
  local body = string.format(
    '{"visitor_id":"soak%d-%d","page_url":"https://shop.example/?utm_source=google&utm_medium=cpc&gclid=g%d"}',
    thread_id, counter % VISITORS, counter)
  return wrk.format("POST", "/v1/sites/soak/sessions", nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    pending = string.match(body, '"session_id":"([^"]+)"')
  elseif status == 204 then
    released = released + 1
  else
    other = other + 1
  end
end

-- Milliseconds to wait before each request: about 50 requests/s per connection.
function delay()
  return 20
end

function done(summary, latency, requests)
  io.write(string.format("wrk: %d requests in %.0f s (%.0f/s), p50 %.2f ms, p99 %.2f ms, socket errors %d, non-2xx %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
