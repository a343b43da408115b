-- Paces each connection: after every response it waits before the next request, so
-- wrk -c<N> -s pace.lua URL -- <delay_ms> [fixed|exp] holds roughly N * 1000 / (delay_ms + latency) req/s.
-- "fixed" waits exactly delay_ms (connections tend to fall into step and arrive in bursts); "exp" draws each
-- wait from an exponential distribution of mean delay_ms, so arrivals are close to a Poisson stream at the
-- same mean rate, as independent clients make them.
local pause = 10
local mode = "fixed"

function init(args)
  pause = tonumber(args[1]) or pause
  mode = args[2] or mode
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function delay()
  if mode == "exp" then
    return math.floor(-pause * math.log(1 - math.random()) + 0.5)
  end
  return pause
end
