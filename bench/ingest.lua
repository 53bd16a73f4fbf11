-- wrk script of the ingest benchmark: each request is a pre-signed Standard Webhooks event,
-- sent once (the receiver deduplicates by webhook-id, so a repeat would be a cheaper request).
--
--   wrk -s bench/ingest.lua URL -- REQUESTS_FILE THREADS
--
-- REQUESTS_FILE has one request a line: webhook-id TAB webhook-timestamp TAB webhook-signature
-- TAB body. Thread k of THREADS sends lines k, k+THREADS, ... The requests are formatted once
-- in init(), so sending one costs wrk a table lookup. done() prints one JSON line.

local counter = 0
local threads = {}
local requests = {}
local sent = 0
wrapped = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path, count = args[1], tonumber(args[2])
   local i = 0
   for line in io.lines(path) do
      if i % count == id then
         local wid, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         requests[#requests + 1] = wrk.format("POST", nil, {
            ["Content-Type"] = "application/json",
            ["webhook-id"] = wid,
            ["webhook-timestamp"] = ts,
            ["webhook-signature"] = sig,
         }, body)
      end
      i = i + 1
   end
end

function request()
   sent = sent + 1
   if sent > #requests then
      sent = 1
      wrapped = wrapped + 1
   end
   return requests[sent]
end

function done(summary, latency, _)
   local wraps = 0
   for _, thread in ipairs(threads) do
      wraps = wraps + thread:get("wrapped")
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "wrapped": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout, wraps))
end
