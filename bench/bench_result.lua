-- The done() of every wrk script here: one line `BENCH_RESULT {json}` for the Python side
-- (bench/run.py) to parse. Its percentiles are wrk's own histogram (microsecond buckets) of
-- the latencies wrk measured: wrk 4 is closed-loop, so they are NOT corrected for coordinated
-- omission (wrk2's -R mode would be). A script loads it with
--   package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
--   done = require("bench_result").done

local M = {}

function M.done(summary, latency, _requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, ' ..
      '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

return M
