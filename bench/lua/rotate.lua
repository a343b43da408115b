-- Cycles requests over many function paths: wrk -s rotate.lua URL -- <prefix> <count> <stride>
-- requests <prefix><0>, <prefix><stride>, <prefix><2*stride>, ... (count paths), then starts over.
local prefix, count, stride = "/f-", 1000, 1
local i = 0

function init(args)
  prefix = args[1] or prefix
  count = tonumber(args[2]) or count
  stride = tonumber(args[3]) or stride
end

function request()
  local path = prefix .. tostring((i % count) * stride) .. "/x"
  i = i + 1
  return wrk.format("GET", path)
end
