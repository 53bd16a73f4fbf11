-- wrk script of the pages benchmark: GET one page (cookie and path given on the command line,
-- headers by -H); done() prints one JSON line with the latency percentiles and error counts.
function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout))
end
