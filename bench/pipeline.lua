-- wrk: each connection writes DEPTH GET requests at once and reads their answers before the next
-- DEPTH (HTTP/1.1 pipelining; wrk counts each answer).
--   wrk -t1 -c32 -d3s -s bench/pipeline.lua URL -- DEPTH        (DEPTH 16 when not given)
init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do requests[i] = wrk.format() end
  pipelined = table.concat(requests)
end

request = function()
  return pipelined
end
