-- wrk script for breakglass benchmarks.
-- Arguments (after --): body template file, unique prefix, Authorization value.
-- Every "@@ID@@" in the template becomes "<prefix>-<n>" so each request is new to the server.
-- Runs for wrk's -d duration (wrk reports that duration even when a thread stops early, so a
-- request limit would distort req/s); prints one JSON line of results.

local template, prefix
local headers = { ["Content-Type"] = "application/json" }
local sent = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  template = f:read("*a")
  f:close()
  prefix = args[2]
  if args[3] ~= nil and args[3] ~= "" then
    headers["Authorization"] = args[3]
  end
end

function request()
  sent = sent + 1
  local body = (string.gsub(template, "@@ID@@", prefix .. "-" .. sent))
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"p999_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
