-- wrk script: ask for every path of a paths file once, in order, then stop; compare.sh's WARM uses it so that a
-- server has served each page of a mix before the mix is measured.
--
--   wrk -t1 -c8 -d600s -s bench/walk-paths.lua http://127.0.0.1:PORT/simple/ -- PATHS_FILE [PREFIX]
--
-- PATHS_FILE and PREFIX are as for the shared bench's random-paths.lua. A path listed twice is asked for twice.

local reqs = {}
local n, i = 0, 0

function init(args)
  local prefix = args[2] or "/simple/"
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", prefix .. line)
    end
  end
end

function request()
  i = i + 1
  if i > n then
    wrk.thread:stop()
    i = n
  end
  return reqs[i]
end

function done(summary, latency, requests)
  io.write(string.format("walked %d paths: %d requests, %d errors\n", n, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status +
    summary.errors.timeout))
end
