-- wrk script shared by both targets of bench/run.py, so the scan call and the bare endpoint
-- pay the same load-generator cost per request.
--
-- BENCH_PATHS names a file with one request path a line. Requests rotate over them: the scan
-- call is loaded over many stations, not one row that PostgreSQL and SQLAlchemy keep hot.
--
-- done() is bench_result.lua's: one line `BENCH_RESULT {json}` for run.py to parse.
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

-- bench_result.lua, beside this script (wrk runs it from any directory).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("bench_result").done
