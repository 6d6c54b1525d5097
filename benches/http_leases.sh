#!/usr/bin/env bash
# HTTP lease-grant throughput: the release binary with one pool of 990 000 numbers (10 ranges
# of 99 000; the config caps a deployment at 1 000 000 numbers), wrk POSTing new sessions with
# varied visitor ids on loopback. Prints requests/s; every 201 is one pool grant.
#
#   benches/http_leases.sh [--seconds 10] [--threads 2] [--connections 64]
#
# Loopback only; bounded in time. wrk and the server share the machine's cores, so on a small
# box the figure is a floor, not a ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=10
THREADS=2
CONNS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet
BIN=target/release/calltrack
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)

RANGES=""
for i in 0 1 2 3 4 5 6 7 8 9; do
  RANGES="$RANGES\"7495${i}000000-7495${i}098999\", "
done
cat > "$WORK/bench.toml" <<TOML
[sip]
udp_listen = ["127.0.0.1:$SIP_PORT"]
tcp_listen = ["127.0.0.1:$SIP_PORT"]

[http]
listen = "127.0.0.1:$HTTP_PORT"
rate_limit_per_minute = 1000000000
max_body_bytes = 8192

[store]
path = "$WORK/calltrack.db"

[log]
level = "warn"

[[sites]]
id = "bench"
forward_to = "sip:127.0.0.1:5080"
default_number = "74990000000"
reserve_number = "74990000001"
freeze_secs = 1200
heartbeat_secs = 30
origins = ["https://shop.example"]

[[sites.pools]]
id = "web"
numbers = [${RANGES%, }]
TOML

"$BIN" --config "$WORK/bench.toml" check-config
"$BIN" --config "$WORK/bench.toml" serve > "$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null || { cat "$WORK/serve.log"; exit 1; }

echo "wrk: $THREADS threads, $CONNS connections, ${SECS}s, POST /v1/sites/bench/sessions"
wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s benches/http_leases.lua \
  "http://127.0.0.1:$HTTP_PORT" | grep -E "requests/s|latency p|Non-2xx|Socket errors"
"$BIN" --config "$WORK/bench.toml" pool status
