-- Paces each connection: after every response it waits <delay_ms> before the next request, so
-- wrk -c<N> -s pace.lua URL -- <delay_ms> holds roughly N * 1000 / (delay_ms + latency) req/s.
local pause = 10

function init(args)
  pause = tonumber(args[1]) or pause
end

function delay()
  return pause
end
