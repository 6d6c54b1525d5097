#!/usr/bin/env bash
# Call-rate load test: sipp UAC -> calltrack -> sipp UAS at rising rates, and the same path
# through Kamailio as a stateful proxy when it is installed, side by side in one run.
# Prints, per target, the highest rate (calls/s) with < 0.1 % failed calls.
#
#   benches/load.sh [--rates "200 400 800 1200 1600 2000"] [--seconds 10] [--hold-ms 0]
#
# Loopback only; every step is bounded in calls (rate x seconds) and in time.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES="200 400 800 1200 1600 2000 2500"
SECONDS_PER_STEP=10
HOLD_MS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) RATES="$2"; shift 2 ;;
    --seconds) SECONDS_PER_STEP="$2"; shift 2 ;;
    --hold-ms) HOLD_MS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
cargo build --release --quiet
BIN=target/release/calltrack
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UAS_PORT=25080
CT_PORT=25060
KAM_PORT=25070

start_uas() {
  sipp -sn uas -i 127.0.0.1 -p "$UAS_PORT" -mp 26000 -nostdin -bg -trace_err \
    -error_file "$WORK/uas-errors.log" >/dev/null 2>&1
  sleep 0.5
  pgrep -f "sipp -sn uas -i 127.0.0.1 -p $UAS_PORT" | head -1
}

start_calltrack() {
  cat > "$WORK/calltrack.toml" <<TOML
[sip]
udp_listen = ["127.0.0.1:$CT_PORT"]
tcp_listen = []
[http]
listen = "127.0.0.1:0"
[store]
path = "$WORK/load.db"
[calls]
max_concurrent_calls = 100000
[log]
level = "warn"
# sipp's UAS does not answer OPTIONS probes: probing would mark it down.
[health]
enabled = false
[[sites]]
id = "load"
forward_to = "sip:127.0.0.1:$UAS_PORT"
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
  RUST_LOG=warn "$BIN" serve --config "$WORK/calltrack.toml" 2>"$WORK/calltrack.log" &
  CT_PID=$!
  PIDS+=("$CT_PID")
  sleep 1
}

# Stops calltrack before the reference run, so no late message of its calls reaches sipp.
stop_calltrack() {
  kill -TERM "$CT_PID" 2>/dev/null || true
  wait "$CT_PID" 2>/dev/null || true
}

start_kamailio() {
  sed -e "s/LISTEN_PORT/$KAM_PORT/; s/TARGET_PORT/$UAS_PORT/; s/CHILDREN/$(nproc)/" \
    benches/kamailio.cfg > "$WORK/kamailio.cfg"
  kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -m 256 -M 32 -DD -E 2>"$WORK/kamailio.log" &
  PIDS+=($!)
  sleep 2
}

# One step: rate calls/s for SECONDS_PER_STEP seconds; prints "successful failed".
# Each target gets its own caller port (UAC_PORT), so stragglers of one run cannot hit the next.
step() {
  local port=$1 rate=$2 calls=$(( $2 * SECONDS_PER_STEP ))
  rm -f "$WORK"/uac_*.csv
  timeout $(( SECONDS_PER_STEP * 3 + 40 )) \
    sipp "127.0.0.1:$port" -sn uac -s 74950000001 -i 127.0.0.1 -p "$UAC_PORT" -mp 27000 \
      -r "$rate" -m "$calls" -d "$HOLD_MS" -l 100000 -nostdin -timeout $(( SECONDS_PER_STEP * 3 + 30 ))s \
      -trace_stat -stf "$WORK/uac_stat.csv" -fd 1 >/dev/null 2>&1 || true
  # Last line of the CSV: SuccessfulCall(C) and FailedCall(C) columns.
  python3 - "$WORK/uac_stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
ok = int(last[head.index('SuccessfulCall(C)')])
failed = int(last[head.index('FailedCall(C)')])
print(ok, failed)
PY
}

# Rising rates; the highest with < 0.1 % failures. A short warm-up call batch goes first.
sweep() {
  local name=$1 port=$2 best=0
  timeout 30 sipp "127.0.0.1:$port" -sn uac -s 74950000001 -i 127.0.0.1 -p "$UAC_PORT" -mp 27000 \
    -r 10 -m 20 -nostdin -timeout 20s >/dev/null 2>&1 || true
  for rate in $RATES; do
    read -r ok failed < <(step "$port" "$rate")
    local total=$(( ok + failed ))
    local pass=$(python3 -c "print(int($total >= $rate * $SECONDS_PER_STEP * 0.99 and $failed * 1000 < max($total, 1)))")
    printf '%-10s rate %5d/s: %6d ok %5d failed %s\n' "$name" "$rate" "$ok" "$failed" "$([ "$pass" = 1 ] && echo pass || echo FAIL)"
    [ "$pass" = 1 ] && best=$rate || break
  done
  echo "$name best rate with < 0.1 % failed calls: $best calls/s"
  echo "$name $best" >> "$WORK/results"
}

UAS_PID=$(start_uas); PIDS+=("$UAS_PID")
UAC_PORT=25090
start_calltrack
sweep calltrack "$CT_PORT"
stop_calltrack
if command -v kamailio >/dev/null; then
  UAC_PORT=25091
  kill "$UAS_PID" 2>/dev/null || true
  sleep 1
  UAS_PID=$(start_uas); PIDS+=("$UAS_PID")
  start_kamailio
  sweep kamailio "$KAM_PORT"
else
  echo "kamailio not installed: no reference run (apt-get install kamailio)"
fi
echo "== summary (calls/s, < 0.1 % failed, ${SECONDS_PER_STEP}s per step, hold ${HOLD_MS} ms)"
cat "$WORK/results"
