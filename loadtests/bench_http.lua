-- wrk script for loadtests/bench_http.py: POST /graphql, a prepared body and bearer token
-- per request, cycling through a file of requests.
--
--   wrk ... -s bench_http.lua URL -- <requests file> <tokens file>
--
-- Each request line is "<token index>\t<JSON body>"; "@@N@@" in a body becomes a number
-- unique to the thread and request (idempotency keys of new posts). A response counts
-- as an error when its status is not 200 or its body carries GraphQL "errors".
-- done() prints one "BENCH_RESULT key=value ..." line for the Python side to read.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local prepared, templates, count = {}, {}, 0
local cursor, counter = 0, 0
gql_errors, bad_status, first_error = 0, 0, ""

function init(args)
  local tokens = {}
  for line in io.lines(args[2]) do
    table.insert(tokens, line)
  end
  for line in io.lines(args[1]) do
    local index, body = line:match("^(%d+)\t(.*)$")
    local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. tokens[tonumber(index) + 1],
    }
    count = count + 1
    if body:find("@@N@@", 1, true) then
      templates[count] = { headers, body }
    else
      prepared[count] = wrk.format("POST", "/graphql", headers, body)
    end
  end
  cursor = (id * 7919) % count -- threads start at different places in the cycle
end

function request()
  cursor = cursor % count + 1
  local ready = prepared[cursor]
  if ready then
    return ready
  end
  counter = counter + 1
  local template = templates[cursor]
  local body = template[2]:gsub("@@N@@", id .. "-" .. counter)
  return wrk.format("POST", "/graphql", template[1], body)
end

function response(status, headers, body)
  local failed = false
  if status ~= 200 then
    bad_status = bad_status + 1
    failed = true
  elseif body:find('"errors"', 1, true) then
    gql_errors = gql_errors + 1
    failed = true
  end
  if failed and first_error == "" then
    first_error = status .. " " .. body:sub(1, 400):gsub("[\r\n\t]", " ")
  end
end

function done(summary, latency, requests)
  local gql, status, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    gql = gql + thread:get("gql_errors")
    status = status + thread:get("bad_status")
    if sample == "" then
      sample = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d socket_errors=%d timeouts=%d bad_status=%d "
      .. "gql_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f\n",
    summary.requests, summary.duration, e.connect + e.read + e.write, e.timeout, status,
    gql, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  if sample ~= "" then
    io.write("BENCH_ERROR " .. sample .. "\n")
  end
end
