#!/usr/bin/env bash
# exports_calls.sh - the call path with exports on, through the release binary on loopback:
#   latency  call.ringing p50/p99 from INVITE arrival (the payload's started_at) to a local
#            webhook receiver, at RATE calls/s for SECS s (default 20 cps x 10 s; target p99 < 100 ms)
#   rate     the same sipp scenario at RATE (default 200 cps x 10 s) against calltrack with no
#            export, then with a webhook whose receiver takes 5 s per request; prints both
#            achieved rates and their ratio (target: within 5 %)
# Uses ../shared/bench's sipp-uac-load.xml and sipp_stat.py (its pass rule: <= 0.1 % failed,
# >= 95 % of the asked rate). Loopback only; every run is bounded by -m, -timeout and
# `timeout`; what this script starts is stopped by PID.
#
# Usage: benches/exports_calls.sh latency [RATE=20] [SECS=10]
#        benches/exports_calls.sh rate [RATE=200] [SECS=10]
#        benches/exports_calls.sh all
# Env: CT_BIN (default target/release/calltrack), SHARED (default ../shared/bench), OUT.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CT_BIN=${CT_BIN:-$ROOT/target/release/calltrack}
SHARED=${SHARED:-$ROOT/../shared/bench}
OUT=${OUT:-${TMPDIR:-/tmp}/exports-calls/$(date +%Y%m%d-%H%M%S)-$$}
IP=127.0.0.1
PIDS=()
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop_all() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; PIDS=(); }
trap stop_all EXIT

# run LABEL RATE SECS HOOK(none|fast|slow) -> sipp stats in $OUT/LABEL
run() {
	local label=$1 rate=$2 secs=$3 hook=$4 d=$OUT/$1
	mkdir -p "$d"
	local sip=$(free_port) http=$(free_port) uas=$(free_port) recv=$(free_port)
	local calls=$((rate * secs))
	cat >"$d/ct.toml" <<TOML
[sip]
udp_listen = ["$IP:$sip"]
[http]
listen = "$IP:$http"
[store]
path = "$d/ct.db"
[calls]
max_concurrent_calls = 100000
[log]
level = "warn"
[health]
enabled = false
[[sites]]
id = "load"
forward_to = "sip:$IP:$uas"
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
	if [ "$hook" != none ]; then
		local delay=0 events='["call.ringing"]'
		[ "$hook" = slow ] && { delay=5; events='["call.ringing", "call.answered", "call.ended"]'; }
		python3 "$HERE/support/webhook_receiver.py" "$recv" "$d/received.tsv" "$delay" &
		PIDS+=($!)
		cat >>"$d/ct.toml" <<TOML
[exports]
concurrency = 4
[[exports.webhooks]]
id = "crm"
url = "http://$IP:$recv/hooks"
events = $events
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOML
	fi
	timeout $((secs + 60)) sipp -sn uas -i $IP -p "$uas" -mp "$(free_port)" -nostdin -timeout $((secs + 50))s \
		>"$d/uas.out" 2>&1 &
	PIDS+=($!)
	timeout $((secs + 60)) "$CT_BIN" serve --config "$d/ct.toml" >"$d/calltrack.log" 2>&1 &
	local ct=$!
	PIDS+=($ct)
	sleep 1.5
	timeout $((secs + 40)) sipp -sf "$SHARED/sipp-uac-load.xml" "$IP:$sip" -s 74950000001 -i $IP \
		-p "$(free_port)" -mp "$(free_port)" -nostdin -r "$rate" -m "$calls" -l $((rate * 4 + 100)) \
		-recv_timeout 8000 -timeout $((secs + 30))s -trace_stat -stf "$d/uac_stat.csv" -fd 1 \
		>"$d/uac.out" 2>&1
	python3 "$SHARED/sipp_stat.py" "$d/uac_stat.csv" >"$d/uac_summary.txt"
	sleep 1
	stop_all
}

latency() {
	local rate=${1:-20} secs=${2:-10}
	run latency "$rate" "$secs" fast
	cat "$OUT/latency/uac_summary.txt"
	python3 "$HERE/support/ringing_latency.py" "$OUT/latency/received.tsv" | tee -a "$OUT/summary.txt"
}

rate() {
	local rate=${1:-200} secs=${2:-10} a b
	run rate-none "$rate" "$secs" none
	run rate-slow "$rate" "$secs" slow
	a=$(cd "$OUT/rate-none" && eval "$(cat uac_summary.txt)" && echo "$rate_c $success $failed $rt_avg_ms")
	b=$(cd "$OUT/rate-slow" && eval "$(cat uac_summary.txt)" && echo "$rate_c $success $failed $rt_avg_ms")
	echo "$a $b" | awk -v r="$rate" '{printf "call_rate asked=%s none: cps=%s ok=%s failed=%s rt_avg_ms=%s | slow_webhook: cps=%s ok=%s failed=%s rt_avg_ms=%s | ratio=%.3f\n", r, $1,$2,$3,$4, $5,$6,$7,$8, ($1>0)? $5/$1 : 0}' |
		tee -a "$OUT/summary.txt"
	echo "slow receiver got $(wc -l <"$OUT/rate-slow/received.tsv" 2>/dev/null || echo 0) requests during the run" | tee -a "$OUT/summary.txt"
}

case ${1:-help} in
latency) latency "${2:-20}" "${3:-10}" ;;
rate) rate "${2:-200}" "${3:-10}" ;;
all) latency; rate ;;
*) sed -n '2,17p' "$0"; exit 2 ;;
esac
echo "results in $OUT"
