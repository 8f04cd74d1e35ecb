-- wrk script shared by both targets of bench/run.py, so the scan call and the bare endpoint
-- pay the same load-generator cost per request.
--
-- BENCH_PATHS names a file with one request path a line. Requests rotate over them: the scan
-- call is loaded over many stations, not one row that PostgreSQL and SQLAlchemy keep hot.
--
-- done() prints one line `BENCH_RESULT {json}` for run.py to parse. Its percentiles are wrk's
-- own histogram (microsecond buckets) of the latencies wrk measured: wrk 4 is closed-loop, so
-- they are NOT corrected for coordinated omission (wrk2's -R mode would be).
-- No response() callback: defining one makes wrk hand every response's headers to Lua, which
-- on a 2-core machine takes CPU from the servers under test. Errors come from wrk's counters.

local requests = {}
local next_index = 0

function init(args)
   local name = os.getenv("BENCH_PATHS")
   assert(name, "BENCH_PATHS is not set")
   local file = assert(io.open(name, "r"))
   for line in file:lines() do
      if line ~= "" then
         -- Built here, not at load time: wrk sets the Host header just before init().
         requests[#requests + 1] = wrk.format("GET", line)
      end
   end
   file:close()
   assert(#requests > 0, "no paths in " .. name)
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end

function done(summary, latency, _requests)
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
