-- wrk script for benches/api_load.sh: one endpoint per run (API_PATH), the bearer key from
-- API_KEY, and each connection paced by `delay` so the whole run offers a fixed rate.
local path = os.getenv("API_PATH")
local key = os.getenv("API_KEY")
local pause = tonumber(os.getenv("API_DELAY_MS"))

request = function()
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. key })
end

delay = function()
    return pause
end

done = function(summary, latency, requests)
    local seconds = summary.duration / 1000000
    io.write(string.format("RESULT %s %.0f %.3f %.3f %.3f %d %d\n", path,
        summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.requests))
end
