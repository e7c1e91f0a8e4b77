-- wrk script: POST the file named by $BENCH_BODY to the URL, with MCP client headers,
-- and print one machine-readable summary line at the end (latencies in microseconds).
--   BENCH_BODY=body.json wrk -t1 -c16 -d10s -s post.lua http://127.0.0.1:PORT/mcp

local path = os.getenv("BENCH_BODY")
if path == nil then
  error("set BENCH_BODY to the file holding the request body")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["X-Agent-Id"] = os.getenv("BENCH_AGENT") or "bench-agent-1"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"lat_min":%d,"lat_mean":%.1f,"lat_max":%d,"lat_stdev":%.1f,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
