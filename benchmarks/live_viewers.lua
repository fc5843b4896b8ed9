-- wrk script for benchmarks/live_viewers.py: viewers of a live broadcast whose segments
-- appear once a second (seg-NNNNN.ts written at KTL_T0 + N, epoch seconds).
-- KTL_MODE: "playlist" (only the playlist), "segment" (only the newest segment) or
-- "viewer" (the playlist, then the newest segment, in turn: what hls.js does).
-- KTL_PLAYLIST: the playlist's path; KTL_SEGMENTS: the path the segment names follow.
-- KTL_PACE_MS: about this long between two requests of a connection (0: flat out).
-- wrk has one Lua state per thread, shared by that thread's connections: the turn is
-- the thread's, so half of all requests are playlists in "viewer" mode.
local mode = os.getenv("KTL_MODE")
local playlist = os.getenv("KTL_PLAYLIST")
local prefix = os.getenv("KTL_SEGMENTS")
local t0 = tonumber(os.getenv("KTL_T0"))
local pace = tonumber(os.getenv("KTL_PACE_MS") or "0")
local turn = 0
-- KTL_COOKIES: a file of session tokens, one a line: each request carries the next one
-- (signed-in viewers, each with a session of their own).
local sessions = {}
local file = os.getenv("KTL_COOKIES") or ""
if file ~= "" then
    for line in io.lines(file) do
        table.insert(sessions, line)
    end
end

-- Two seconds behind the newest: a segment already in the playlist (players stay three
-- segments behind the live edge).
local function newest_segment()
    return string.format("%sseg-%05d.ts", prefix, os.time() - t0 - 2)
end

request = function()
    turn = turn + 1
    local headers = nil
    if #sessions > 0 then
        headers = { Cookie = "ktl_session=" .. sessions[(turn % #sessions) + 1] }
    end
    if mode == "playlist" or (mode == "viewer" and turn % 2 == 1) then
        return wrk.format("GET", playlist, headers)
    end
    return wrk.format("GET", newest_segment(), headers)
end

if pace > 0 then
    delay = function()
        return math.random(math.floor(pace / 2), math.floor(pace * 3 / 2))
    end
end
