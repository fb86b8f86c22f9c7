-- Sliding-window log shared by every wharf instance. Each key is one (rule, key) counter: a list of the times, in
-- microseconds, of the last `limit` allowed hits, newest first. The caller passes the time, so that all instances
-- and the tests agree on one clock source, and Redis only keeps the state.
--
-- KEYS[i]            the counter of rule i
-- ARGV[1]            now, integer microseconds (a string, so that no digit is lost to Lua's number formatting)
-- ARGV[2]            "1" to record the hit when every rule allows it, "0" to only check
-- ARGV[1 + 2i]       limit of rule i
-- ARGV[2 + 2i]       window of rule i, in microseconds
-- Returns, per rule, the microseconds until it allows a hit (0: allows it now).

local now = tonumber(ARGV[1])
local record = ARGV[2] == '1'
local waits = {}
local refused = false

for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  waits[i] = 0
  if redis.call('LLEN', key) >= limit then
    -- The stamp `limit` places back decides; entries past it are only left over from a higher limit.
    local decisive = tonumber(redis.call('LINDEX', key, limit - 1))
    if decisive + window > now then
      waits[i] = decisive + window - now
      refused = true
    end
  end
end

if record and not refused then
  for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[1 + 2 * i])
    local window = tonumber(ARGV[2 + 2 * i])
    -- A clock behind the newest stamp (another instance's clock runs ahead) records at the newest stamp, so that
    -- the head of the list is the latest and the expiry below never drops a counter that still refuses.
    local stamp = ARGV[1]
    local newest = redis.call('LINDEX', key, 0)
    if newest and tonumber(newest) > now then
      stamp = newest
    end
    redis.call('LPUSH', key, stamp)
    redis.call('LTRIM', key, 0, limit - 1)
    -- Redis forgets the counter a second after its newest stamp leaves the window, by Redis's own clock.
    redis.call('PEXPIRE', key, math.ceil((tonumber(stamp) - now + window) / 1000) + 1000)
  end
end

return waits
