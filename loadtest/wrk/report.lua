-- Shared by the wrk scripts: number the threads (global `tid` in each, from
-- 0, for scripts that split their work between threads; `wrk_threads` lists
-- them for a script's own done()), and print one JSON line with the run's
-- figures.
local threads = 0
wrk_threads = {}
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
  wrk_threads[#wrk_threads + 1] = thread
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"rps":%.0f,"p50_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f,"errors":%d}\n',
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, bad))
end
