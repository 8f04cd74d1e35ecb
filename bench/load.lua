-- wrk script of bench/load.py: any mix of requests, read from a file.
--
-- BENCH_REQUESTS names a file with one request a line, tab-separated:
--   METHOD  PATH  HEADER-NAME  HEADER-VALUE  BODY
-- (the header — a bearer token, a session cookie — and the body may be empty). Requests rotate
-- over the lines. A body holding "{n}" gets a number of its own each request (BENCH_LABEL and a
-- counter), so every submission is a new one; the others are built once in init().
--
-- done() is bench_result.lua's: `BENCH_RESULT {json}` (wrk's histogram; closed loop, not
-- corrected for coordinated omission). No response() callback: it would cost the servers CPU.

local lines, prebuilt = {}, {}
local n = 0
local label = os.getenv("BENCH_LABEL") or "run"

local function split(line)
   local out = {}
   for field in (line .. "\t"):gmatch("([^\t]*)\t") do out[#out + 1] = field end
   return out
end

function init(args)
   local name = assert(os.getenv("BENCH_REQUESTS"), "BENCH_REQUESTS is not set")
   local file = assert(io.open(name, "r"))
   for line in file:lines() do
      if line ~= "" then
         local f = split(line)
         local headers = {}
         if f[3] ~= nil and f[3] ~= "" then headers[f[3]] = f[4] end
         local body = f[5]
         if body == "" then body = nil end
         if body ~= nil then headers["Content-Type"] = "application/json" end
         lines[#lines + 1] = {method = f[1], path = f[2], headers = headers, body = body}
         if body == nil or not body:find("{n}", 1, true) then
            -- Built here, not at load time: wrk sets the Host header just before init().
            prebuilt[#lines] = wrk.format(f[1], f[2], headers, body)
         end
      end
   end
   file:close()
   assert(#lines > 0, "no requests in " .. name)
end

function request()
   n = n + 1
   local i = (n - 1) % #lines + 1
   local ready = prebuilt[i]
   if ready ~= nil then return ready end
   local r = lines[i]
   local body = r.body:gsub("{n}", label .. "-" .. n)
   return wrk.format(r.method, r.path, r.headers, body)
end

-- bench_result.lua, beside this script (wrk runs it from any directory).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("bench_result").done
