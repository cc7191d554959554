#!/usr/bin/env bash
# Measures what deploy/kubernetes's resource requests and limits are based on: the service's RSS
# idle and under a short load (wrk, POST /api/v1/query with 64 connections), and its CPU
# during that load. Not part of CTest (it takes a minute and the figures depend on the machine).
#
# Usage: tests/deploy/measure_resources.sh BUILD_DIR   (with the dev stack's env exported:
#        eval "$(scripts/devstack env DIR)")
# Env: DURATION (s, default 20), CONNECTIONS (64), SQL (default SELECT 1 AS test)
set -euo pipefail
BIN="${1:?usage: $0 BUILD_DIR}/coredb"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
SQL="${SQL:-SELECT 1 AS test}"
: "${DATABASE_URL:?export the dev stack env first}"
PORT="${PORT_UNDER_TEST:-18095}"
TOKEN="measure-admin-token-0123456789"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" migrate >/dev/null
HOST=127.0.0.1 PORT="$PORT" COREDB_ADMIN_TOKEN="$TOKEN" LOG_LEVEL=warn "$BIN" serve >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
sleep 5
echo "idle: rss_kib=$(rss_kib) threads=$(awk '/^Threads:/ {print $2}' /proc/$PID/status)"

cat >"$WORK/query.lua" <<LUA
wrk.method = "POST"
wrk.body = [[{"sql":"$SQL"}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
t0=$(cpu_ticks)
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/query.lua" "http://127.0.0.1:$PORT/api/v1/query" | grep -E 'Requests/sec|Latency|requests in'
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
echo "load: rss_kib=$(rss_kib) peak_rss_kib=$(hwm_kib) cpu_pct_of_one_core=$(( (t1 - t0) * 100 / hz / DURATION ))"
sleep 3
echo "after: rss_kib=$(rss_kib)"
