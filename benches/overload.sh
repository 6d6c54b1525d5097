#!/usr/bin/env bash
# Overload and relay latency of calltrack under sipp load (issue 12), loopback only:
#
#   benches/overload.sh overload RATE [SECS=30] [AFTER_RATE=RATE/4] [AFTER_SECS=10]
#       offers RATE calls/s (0-s calls) for SECS, then AFTER_RATE for AFTER_SECS, with a caller
#       that accepts "answered, or 503 with Retry-After" (tests/sipp/uac_overload.xml). Reports
#       goodput (answered calls/s, from the CDRs), refusals by signal (from /metrics), calls that
#       failed otherwise (timeouts: what a collapse looks like), and whether the after-phase
#       passed clean (recovery).
#   benches/overload.sh latency RATE [SECS=20]
#       offers RATE calls/s and reports p50/p99 of INVITE in -> B-leg INVITE out from the
#       calltrack_invite_relay_seconds histogram in /metrics (linear within a bucket).
#
# Needs sipp and the release binary (built here unless CT_BIN names one). Ports: UAC 5260, calltrack 5270 (HTTP 5271),
# UAS 5280 (UAC_PORT/CT_PORT/HTTP_PORT/UAS_PORT override). Every sipp run is bounded by -m and
# -timeout and an outer `timeout`; every process started here is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
IP=127.0.0.1
UAC_PORT=${UAC_PORT:-5260}
CT_PORT=${CT_PORT:-5270}
HTTP_PORT=${HTTP_PORT:-5271}
UAS_PORT=${UAS_PORT:-5280}
OUT=${OUT:-/tmp/calltrack-overload/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
# A given CT_BIN is used as is (e.g. a copy of an earlier build); otherwise build first.
[ -n "${CT_BIN:-}" ] || cargo build --release --quiet
CT_BIN=${CT_BIN:-$PWD/target/release/calltrack}
PIDS=()
# SIGTERM, then SIGKILL for what is still up 5 s later (a sipp UAS busy with a flood could
# otherwise keep the script waiting for its own 300-s timeout).
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

start_calltrack() {
	cat >"$OUT/ct.toml" <<TOML
[sip]
udp_listen = ["$IP:$CT_PORT"]
[http]
listen = "$IP:$HTTP_PORT"
[store]
path = "$OUT/ct.db"
[calls]
max_concurrent_calls = 100000
[log]
level = "warn"
[health]
enabled = false
[carriers]
trusted = ["127.0.0.0/8"]
[pbx]
trusted = ["127.0.0.0/8"]
[[sites]]
id = "load"
forward_to = "sip:$IP:$UAS_PORT"
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
	"$CT_BIN" serve --config "$OUT/ct.toml" >"$OUT/calltrack.log" 2>&1 &
	CT_PID=$!
	PIDS+=("$CT_PID")
	for _ in $(seq 50); do
		curl -sf "http://$IP:$HTTP_PORT/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "calltrack did not start"; tail -5 "$OUT/calltrack.log" >&2; exit 1
}

start_uas() {
	sipp -sn uas -i $IP -p "$UAS_PORT" -mp 18200 -nostdin -buff_size 4194304 -timeout 300s \
		-trace_err -error_file "$OUT/uas_err.log" >"$OUT/uas.out" 2>&1 &
	PIDS+=("$!")
	sleep 0.5
}

# RATE SECS LABEL: one bounded caller run; its stat line goes to $OUT/LABEL.*
caller() {
	local rate=$1 secs=$2 label=$3 n=$(($1 * $2))
	timeout -k 5 $((secs + 60)) sipp -sf tests/sipp/uac_overload.xml "$IP:$CT_PORT" -s 74950000001 \
		-i $IP -p "$UAC_PORT" -mp 16200 -nostdin -buff_size 4194304 -r "$rate" -rp 1000 \
		-m "$n" -l $((rate * 10 + 200)) -d 0 -recv_timeout 8000 -timeout "$((secs + 40))s" \
		-trace_stat -stf "$OUT/$label.csv" -fd 1 -trace_err -error_file "$OUT/$label.err" \
		>"$OUT/$label.out" 2>&1 || true
}

metric() { # NAME: summed value of every sample of that metric in /metrics
	curl -sf "http://$IP:$HTTP_PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'
}

answered() { sqlite3 "file:$OUT/ct.db?mode=ro" "select count(*) from cdr where disposition = 'answered'" 2>/dev/null || echo 0; }

sipp_field() { # LABEL FIELD: last value of a cumulative sipp stat column
	python3 - "$OUT/$1.csv" "$2" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(last[head.index(sys.argv[2])])
PY
}

mode=${1:-help}
case $mode in
overload)
	rate=${2:?RATE}; secs=${3:-30}; after=${4:-$((rate / 4))}; after_secs=${5:-10}
	start_calltrack; start_uas
	log "overload: $rate calls/s for $secs s, then $after calls/s for $after_secs s"
	t0=$(date +%s.%N); caller "$rate" "$secs" overload; t1=$(date +%s.%N)
	sleep 2
	ok=$(answered)
	queue=$(metric 'calltrack_overload_refused_total{signal="queue_delay"}')
	store=$(metric 'calltrack_overload_refused_total{signal="store_backlog"}')
	failed=$(sipp_field overload FailedCall\(C\))
	retrans=$(sipp_field overload Retransmissions\(C\))
	caller "$after" "$after_secs" after
	sleep 2
	after_failed=$(sipp_field after FailedCall\(C\))
	after_ok=$(($(answered) - ok))
	awk -v r="$rate" -v s="$secs" -v ok="$ok" -v q="$queue" -v st="$store" -v f="$failed" \
		-v re="$retrans" -v t0="$t0" -v t1="$t1" -v a="$after" -v as="$after_secs" \
		-v aok="$after_ok" -v af="$after_failed" 'BEGIN {
		printf "offered %d calls/s for %d s (%d calls): answered %d = %.0f calls/s goodput over the offer window (run took %.1f s)\n", r, s, r*s, ok, ok/s, t1-t0
		printf "refused with 503 + Retry-After: %d (queue_delay %d, store_backlog %d); failed otherwise: %d; retransmissions: %d\n", q+st, q, st, f, re
		printf "after: %d calls/s for %d s: %d answered, %d failed (%s)\n", a, as, aok, af, (af == 0 ? "recovered" : "NOT recovered")
	}' | tee "$OUT/summary.txt"
	;;
latency)
	rate=${2:?RATE}; secs=${3:-20}
	start_calltrack; start_uas
	log "latency: $rate calls/s for $secs s"
	caller "$rate" "$secs" latency
	curl -sf "http://$IP:$HTTP_PORT/metrics" | grep '^calltrack_invite_relay_seconds_bucket' |
		sed -E 's/.*le="([^"]+)"\} ([0-9.e+]+)/\1 \2/' | python3 -c '
import sys
b = [(float("inf") if l == "+Inf" else float(l), float(c)) for l, c in (x.split() for x in sys.stdin)]
total = b[-1][1]
def q(p):
    want, lo, below = p * total, 0.0, 0.0
    for le, c in b:
        if c >= want:
            return lo + (le - lo) * (want - below) / max(c - below, 1)
        lo, below = le, c
print(f"INVITE relay over {int(total)} calls: p50 {q(0.5)*1e6:.0f} us, p99 {q(0.99)*1e6:.0f} us")
' | tee "$OUT/summary.txt"
	echo "failed calls: $(sipp_field latency FailedCall\(C\))" | tee -a "$OUT/summary.txt"
	;;
*)
	sed -n '2,20p' "$0"
	exit 2
	;;
esac
log "results in $OUT"
