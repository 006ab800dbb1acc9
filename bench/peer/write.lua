-- The project's saves under wrk (bench/write_path.py): crs.lua's POSTs, plus a lab result (KIND=lab)
-- and an AE (KIND=ae), spread over the infused subjects and their first 28 days at random times of day.
-- Env: TOKEN (a coordinator's token), SUBJECTS="id:YYYY-MM-DD,..." (day 0), KIND = vs | crs | lab | ae.
local subjects = {}
for id, y, m, d in string.gmatch(os.getenv("SUBJECTS"), "(%d+):(%d+)-(%d+)-(%d+)") do
  table.insert(subjects, {id = tonumber(id), y = tonumber(y), m = tonumber(m), d = tonumber(d)})
end
local kind = os.getenv("KIND") or "crs"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. os.getenv("TOKEN")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
  local s = subjects[math.random(#subjects)]
  -- days 1-28, never after yesterday (a subject infused lately has fewer days: future dates are refused)
  local last = math.floor((os.time() - os.time({year = s.y, month = s.m, day = s.d, hour = 12})) / 86400) - 1
  local t = os.time({year = s.y, month = s.m, day = s.d + math.random(1, math.max(1, math.min(28, last))), hour = 12})
  local date = os.date("%Y-%m-%d", t)
  local hms = string.format("%02d:%02d:%02d", math.random(0, 23), math.random(0, 59), math.random(0, 59))
  local body, path
  if kind == "crs" then
    body = string.format('{"subject": %d, "assessment_date": "%s", "assessment_time": "%s", "tmax_c": "38.9", "hypotension": false, "vasopressors": [], "oxygen_device": "nasal_cannula", "oxygen_flow_l_min": "4.0", "hypoxia_attributable_to_crs": true, "entry_status": "complete"}', s.id, date, hms)
    path = "/api/v1/crs-assessments/"
  elseif kind == "lab" then
    body = string.format('{"subject": %d, "collected_on": "%s", "collected_time": "%s", "panel": "CBC", "analyte": "ANC", "value": "1.2", "unit": "10^9/L", "entry_status": "complete"}', s.id, date, hms)
    path = "/api/v1/lab-results/"
  elseif kind == "ae" then
    body = string.format('{"subject": %d, "ctcae_term": "Nausea", "grade": 1, "onset_date": "%s", "relationship_car_t": "possible", "relationship_lymphodepletion": "unlikely", "action": "treatment", "outcome": "recovering", "entry_status": "complete"}', s.id, date)
    path = "/api/v1/adverse-events/"
  else
    body = string.format('{"subject": %d, "assessment_date": "%s", "assessment_time": "%s", "temperature_c": "38.4", "systolic_bp": 110, "diastolic_bp": 70, "heart_rate": 96, "spo2": 97, "oxygen_device": "room_air", "entry_status": "complete"}', s.id, date, hms)
    path = "/api/v1/vital-signs/"
  end
  return wrk.format(nil, path, nil, body)
end
local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  if status >= 300 and (codes[status] <= 1) then io.stderr:write(status .. " " .. body:sub(1, 300) .. "\n") end
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  non2xx-errors %d\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end
