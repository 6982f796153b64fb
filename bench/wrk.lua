-- wrk script of `make bench`: one endpoint, each request with the next line of a file, and a JSON summary line.
--
-- BENCH_METHOD and BENCH_PATH name the endpoint. BENCH_LINES is a file with one line per request to rotate
-- through: with BENCH_KIND=bearer a JWT (sent as `Authorization: Bearer`), with BENCH_KIND=json a JSON body.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local kind = os.getenv("BENCH_KIND") or "bearer"
local lines = {}
local next_line = 0
non_2xx = 0  -- global: done() reads it from each thread
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_LINES")) do
    table.insert(lines, line)
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  next_line = math.random(#lines)  -- threads start at different lines
end

function request()
  next_line = next_line % #lines + 1
  if kind == "json" then
    return wrk.format(method, path, {["Content-Type"] = "application/json"}, lines[next_line])
  end
  return wrk.format(method, path, {["Authorization"] = "Bearer " .. lines[next_line]})
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("non_2xx")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), failed,
    e.connect + e.read + e.write + e.timeout))
end
