-- wrk script of bench/issues.py: residents submitting issues, or deputies reading their inbox.
--
-- BENCH_TOKENS names a file of bearer tokens, one a line; requests rotate over them.
-- Submit mode (BENCH_SCENES set): POST /api/v1/issues as JSON, the scene rotating over the
-- stations in BENCH_SCENES, the category over BENCH_CATEGORIES, and a content of its own for every
-- request (BENCH_LABEL + a counter), built in request(). Otherwise GET BENCH_PATH with each token.
--
-- done() is bench_result.lua's: `BENCH_RESULT {json}` (wrk's own histogram; closed
-- loop, not corrected for coordinated omission). No response() callback, as in scan.lua.

local tokens, scenes, categories, prebuilt = {}, {}, {}, {}
local n = 0
local label = os.getenv("BENCH_LABEL") or "run"
local submit = os.getenv("BENCH_SCENES") ~= nil

local function lines(name)
   local out = {}
   local file = assert(io.open(name, "r"))
   for line in file:lines() do
      if line ~= "" then out[#out + 1] = line end
   end
   file:close()
   assert(#out > 0, "nothing in " .. name)
   return out
end

function init(args)
   tokens = lines(assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS is not set"))
   if submit then
      scenes = lines(os.getenv("BENCH_SCENES"))
      categories = lines(assert(os.getenv("BENCH_CATEGORIES"), "BENCH_CATEGORIES is not set"))
   else
      local path = assert(os.getenv("BENCH_PATH"), "BENCH_PATH is not set")
      for i, token in ipairs(tokens) do
         prebuilt[i] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
      end
   end
end

function request()
   n = n + 1
   if not submit then
      return prebuilt[(n - 1) % #prebuilt + 1]
   end
   local body = string.format(
      '{"scene":"%s","category":"%s","content":"基准测试 %s-%d：小区东门的路灯坏了，晚上出行不便，请尽快修理。"}',
      scenes[(n - 1) % #scenes + 1], categories[(n - 1) % #categories + 1], label, n)
   return wrk.format("POST", "/api/v1/issues", {
      ["Authorization"] = "Bearer " .. tokens[(n - 1) % #tokens + 1],
      ["Content-Type"] = "application/json",
   }, body)
end

-- bench_result.lua, beside this script (wrk runs it from any directory).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("bench_result").done
