-- wrk script for benchmarks/live_viewers.py: each connection asks for KTL_PATHS in turn
-- (comma-separated), waiting about KTL_PACE_MS between requests (0: as fast as it can).
local paths = {}
for path in string.gmatch(os.getenv("KTL_PATHS"), "[^,]+") do
    table.insert(paths, path)
end
local pace = tonumber(os.getenv("KTL_PACE_MS") or "0")
local turn = 0

request = function()
    turn = turn + 1
    return wrk.format("GET", paths[(turn % #paths) + 1])
end

if pace > 0 then
    delay = function()
        return math.random(math.floor(pace / 2), math.floor(pace * 3 / 2))
    end
end
