#!/usr/bin/env bash
# Soak: a bounded run (10 minutes by default) at a steady load: long calls from sipp at a fixed
# rate (sipp UAC -> calltrack -> sipp UAS over UDP on loopback) and visitor-lease churn over
# HTTP from wrk (create, release, create, ...). Samples calltrack's RSS, open file descriptors
# and live calls every 10 s, and at the end compares the CDR count with sipp's successful calls.
# Fails when memory grows at steady load (RSS at the end of the steady load > 1.25 x RSS once
# the load is steady, plus 8 MiB) or when CDRs and sipp disagree.
#
#   benches/soak.sh [--minutes 10] [--rate 5] [--hold-secs 60] [--bin target/release/calltrack]
#
# Loopback only; bounded in calls (rate x duration) and in time.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=10
RATE=5
HOLD=60
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --hold-secs) HOLD="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed: apt-get install sqlite3" >&2; exit 2; }
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=target/release/calltrack
fi
DURATION=$(( MINUTES * 60 ))
# Every call (placed during the first DURATION - HOLD seconds) ends within the run.
CALLS=$(( RATE * (DURATION - HOLD) ))
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIP_PORT=$(port); HTTP_PORT=$(port); PBX_PORT=$(port); UAC_PORT=$(port)

cat > "$WORK/soak.toml" <<TOML
[sip]
udp_listen = ["127.0.0.1:$SIP_PORT"]
tcp_listen = ["127.0.0.1:$SIP_PORT"]

[http]
listen = "127.0.0.1:$HTTP_PORT"
rate_limit_per_minute = 1000000000

[store]
path = "$WORK/soak.db"

[calls]
shutdown_grace_secs = 10

[log]
level = "warn"
# sipp's UAS does not answer OPTIONS probes: probing would mark it down.
[health]
enabled = false

[[sites]]
id = "soak"
forward_to = "sip:127.0.0.1:$PBX_PORT"
default_number = "74960000000"
reserve_number = "74960000099"
freeze_secs = 5
lease_cooldown_secs = 1
heartbeat_secs = 2

[[sites.static_numbers]]
number = "74960000001"
source = "soak"

[[sites.pools]]
id = "web"
numbers = ["74960001000-74960002999"]
TOML

"$BIN" serve --config "$WORK/soak.toml" 2>"$WORK/calltrack.log" &
CT=$!; PIDS+=("$CT")
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null || { cat "$WORK/calltrack.log"; exit 1; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$CT/status"; }
fds() { ls "/proc/$CT/fd" | wc -l; }
live() { curl -sf "http://127.0.0.1:$HTTP_PORT/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["active_calls"])'; }

sipp -sn uas -i 127.0.0.1 -p "$PBX_PORT" -mp "$(port)" -nostdin -bg >/dev/null 2>&1 || true  # -bg exits 99
sleep 0.5
UAS=$(pgrep -f "sipp -sn uas -i 127.0.0.1 -p $PBX_PORT" | head -1); PIDS+=("$UAS")
SCENARIO="$PWD/tests/sipp/uac_call.xml"
(cd "$WORK" && exec sipp "127.0.0.1:$SIP_PORT" -sf "$SCENARIO" -s 74960000001 \
   -i 127.0.0.1 -p "$UAC_PORT" -mp "$(port)" -r "$RATE" -m "$CALLS" -d $(( HOLD * 1000 )) \
   -l $(( RATE * HOLD * 2 )) -nostdin -recv_timeout 30s -timeout $(( DURATION + 120 ))s \
   -trace_stat -stf "$WORK/uac_stat.csv" -fd 5 >/dev/null 2>&1) &
UAC=$!; PIDS+=("$UAC")
wrk -t 1 -c 4 -d "${DURATION}s" -s benches/soak.lua "http://127.0.0.1:$HTTP_PORT" > "$WORK/wrk.out" 2>&1 &
WRK=$!; PIDS+=("$WRK")

echo "soak: ${MINUTES} min, $CALLS calls at $RATE/s held ${HOLD}s (~$(( RATE * HOLD )) live), wrk lease churn; binary $BIN"
printf '%6s %10s %6s %6s\n' t_secs rss_kib fds live
RSS_FIRST=$(rss); FDS_FIRST=$(fds)
START=$(date +%s)
RSS_STEADY=""; RSS_LATE=""; FDS_LATE=""
while kill -0 "$UAC" 2>/dev/null; do
  T=$(( $(date +%s) - START ))
  printf '%6d %10d %6d %6s\n' "$T" "$(rss)" "$(fds)" "$(live || echo '?')"
  # Steady once the first calls have ended and new ones replace them.
  if [ -z "$RSS_STEADY" ] && [ "$T" -ge $(( HOLD + 30 )) ]; then RSS_STEADY=$(rss); FDS_STEADY=$(fds); fi
  # The last sample while new calls still arrive (after DURATION - HOLD the calls drain).
  if [ -n "$RSS_STEADY" ] && [ "$T" -le $(( DURATION - HOLD )) ]; then RSS_LATE=$(rss); FDS_LATE=$(fds); fi
  [ "$T" -gt $(( DURATION + 150 )) ] && { echo "sipp did not finish"; exit 1; }
  sleep 10
done
RSS_END=$(rss); FDS_END=$(fds)
wait "$WRK" || true
kill -TERM "$CT"; wait "$CT" || true

read -r OK FAILED < <(python3 - "$WORK/uac_stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(int(last[head.index('SuccessfulCall(C)')]), int(last[head.index('FailedCall(C)')]))
PY
)
CDRS=$(sqlite3 "$WORK/soak.db" 'SELECT count(*) FROM cdr')
DUP=$(sqlite3 "$WORK/soak.db" 'SELECT count(*) - count(DISTINCT call_id) FROM cdr')
INTEGRITY=$(sqlite3 "$WORK/soak.db" 'PRAGMA integrity_check')
echo
cat "$WORK/wrk.out"
echo "RSS: ${RSS_FIRST} KiB at start, ${RSS_STEADY:-?} KiB once the load is steady, ${RSS_LATE:-?} KiB at the end of the steady load, ${RSS_END} KiB after the calls drained"
echo "open fds: ${FDS_FIRST} at start, ${FDS_STEADY:-?} once steady, ${FDS_LATE:-?} at the end of the steady load, ${FDS_END} after"
echo "sipp: $OK successful, $FAILED failed of $CALLS; CDRs: $CDRS ($DUP duplicate Call-IDs); integrity: $INTEGRITY"
status=0
[ "$OK" = "$CALLS" ] && [ "$FAILED" = 0 ] || { echo "FAIL: not every call succeeded"; status=1; }
[ "$CDRS" = "$OK" ] && [ "$DUP" = 0 ] || { echo "FAIL: CDR count differs from sipp's successful calls"; status=1; }
[ "$INTEGRITY" = ok ] || { echo "FAIL: database integrity"; status=1; }
if [ -n "$RSS_LATE" ] && [ "$RSS_LATE" -gt $(( RSS_STEADY * 5 / 4 + 8192 )) ]; then
  echo "FAIL: memory grew at steady load"; status=1
fi
[ "$FDS_END" -le $(( ${FDS_STEADY:-$FDS_FIRST} + 8 )) ] || { echo "FAIL: file descriptors grew"; status=1; }
[ $status = 0 ] && echo "soak: PASS"
exit $status
