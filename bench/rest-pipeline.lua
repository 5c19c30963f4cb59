-- wrk script: POST /pipeline with 16 SETs per request (bench/run.sh's REST table, and deploy/pgo-build.sh's
-- training load).
wrk.method = "POST"
local commands = {}
for i = 1, 16 do commands[i] = string.format('["SET","key:%d","value"]', i) end
wrk.body = "[" .. table.concat(commands, ",") .. "]"
wrk.headers["Content-Type"] = "application/json"
