#!/usr/bin/env bash
# Media relay under load (issue 17, Performance): N concurrent relayed G.711 calls with
# recording on, each carrying 50 packets/s each way through calltrack (sipp UAC streams PCMU
# with rtp_stream, sipp's built-in UAS echoes it with -rtp_echo): 500 calls = 50 000 packets/s.
# Reports CPU per relayed packet (calltrack's utime+stime from /proc over the window in which
# every call is up, over the packets relayed in it, from the CDRs' per-call packet rate) and
# PSS per relayed call (smaps_rollup with every call up, minus idle, over N).
#
#   benches/media_load.sh                 500 calls, 30 s each, arrivals at 50/s
#   CALLS=200 HOLD_S=20 benches/media_load.sh
#   RECORD=0 benches/media_load.sh         recording off (recordings are streamed to disk as the
#                                            call goes, a few tens of kB per call with it on)
#   TARGET=rtpengine benches/media_load.sh   the same sipp through Kamailio + rtpengine
#                                            (userspace forwarding), see benches/support/
#
# Loopback only. Bounded: sipp -m CALLS, -timeout, an outer `timeout`; every process started
# here is stopped by its PID. The box is shared: label figures as noisy, compare runs made side
# by side. CT_BIN overrides the binary (default: target/release/calltrack, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CALLS=${CALLS:-500}
HOLD_S=${HOLD_S:-30}
RATE=${RATE:-50}
TARGET=${TARGET:-calltrack}
IP=127.0.0.1
UAC_PORT=${UAC_PORT:-15060}
PROXY_PORT=${PROXY_PORT:-15070}
UAS_PORT=${UAS_PORT:-15080}
RTP_FIRST=${RTP_FIRST:-40000}
OUT=${OUT:-${TMPDIR:-/tmp}/media-load/$(date +%Y%m%d-%H%M%S)-$$}
CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
PIDS=()

log() { echo "[media_load] $*" >&2; }
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT

command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
for p in $UAC_PORT $PROXY_PORT $UAS_PORT; do
	if ss -Hlnu "sport = :$p" | grep -q .; then log "port $p in use; set UAC_PORT/PROXY_PORT/UAS_PORT"; exit 2; fi
done

# One second of a 440 Hz tone at about -12 dBov, 8 kHz µ-law (looped by rtp_stream).
python3 - "$OUT/tone.ulaw" <<'PY'
import math, sys
def ulaw(s):
    BIAS = 0x84
    sign = 0x80 if s < 0 else 0
    s = min(abs(s) + BIAS, 0x7fff)
    exp = next((e for e in range(7, -1, -1) if s & (0x80 << e)), 0)
    return ~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0f)) & 0xff
with open(sys.argv[1], "wb") as f:
    f.write(bytes(ulaw(int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000)))
PY
sed "s|@TONE@|$OUT/tone.ulaw|" benches/support/uac_rtp_load.xml >"$OUT/uac.xml"

pss_kb() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Every process of a target (rtpengine + kamailio workers): sums over PIDs.
sum_over() { local f=$1 t=0 p; shift; for p in "$@"; do t=$((t + $($f "$p"))); done; echo $t; }

start_calltrack() {
	[ -n "${CT_BIN:-}" ] || { cargo build --release --quiet --bin calltrack; CT_BIN=$ROOT/target/release/calltrack; }
	mkdir -p "$OUT/recordings"
	cat >"$OUT/ct.toml" <<TOML
[sip]
udp_listen = ["$IP:$PROXY_PORT"]
tcp_listen = ["$IP:$PROXY_PORT"]
[http]
listen = "$IP:0"
[store]
path = "$OUT/ct.db"
[calls]
max_concurrent_calls = 100000
[log]
level = "warn"
[health]
enabled = false
[media]
rtp_ports = "$RTP_FIRST-$((RTP_FIRST + 4 * CALLS + 99))"
bind_ip = "$IP"
recordings_dir = "$OUT/recordings"
on_no_ports = "refuse"
[[sites]]
id = "load"
forward_to = "sip:$IP:$UAS_PORT"
media = "relay"
record = $([ "${RECORD:-1}" = 1 ] && echo true || echo false)
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
	"$CT_BIN" serve --config "$OUT/ct.toml" >"$OUT/calltrack.log" 2>&1 &
	TARGET_PIDS=($!)
	PIDS+=($!)
}

if [ "$TARGET" = calltrack ]; then
	start_calltrack
else
	# shellcheck source=benches/support/rtpengine.sh
	source benches/support/rtpengine.sh
	start_rtpengine_target # sets TARGET_PIDS, adds to PIDS
fi
sleep 1
for p in "${TARGET_PIDS[@]}"; do kill -0 "$p" || { log "$TARGET did not start"; tail "$OUT"/*.log >&2; exit 1; }; done
IDLE_PSS=$(sum_over pss_kb "${TARGET_PIDS[@]}")

sipp -sn uas -rtp_echo -i $IP -p $UAS_PORT -mp $((RTP_FIRST + 20000)) -nostdin \
	-timeout "$((HOLD_S + CALLS / RATE + 60))s" -trace_err -error_file "$OUT/uas_err.log" >"$OUT/uas.out" 2>&1 &
PIDS+=($!)
sleep 0.5
timeout $((HOLD_S + CALLS / RATE + 90)) sipp -sf "$OUT/uac.xml" -s 74950000001 -i $IP -p $UAC_PORT \
	-mp $((RTP_FIRST + 10000)) -r "$RATE" -m "$CALLS" -l "$CALLS" -d "$((HOLD_S * 1000))" \
	-nostdin -timeout "$((HOLD_S + CALLS / RATE + 60))s" -trace_stat -stf "$OUT/uac_stat.csv" \
	-trace_err -error_file "$OUT/uac_err.log" "$IP:$PROXY_PORT" >"$OUT/uac.out" 2>&1 &
UAC=$!
PIDS+=($UAC)

# Window: from when the last call is up (arrivals take CALLS/RATE s, +2 s to settle) for
# WINDOW_S seconds, inside the hold time.
RAMP_S=$((CALLS / RATE + 2))
WINDOW_S=$((HOLD_S - CALLS / RATE - 4))
[ "$WINDOW_S" -ge 5 ] || { log "HOLD_S too short for CALLS/RATE: no steady window"; exit 2; }
sleep "$RAMP_S"
C0=$(sum_over cpu_ticks "${TARGET_PIDS[@]}")
T0=$(date +%s.%N)
SYS0=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
sleep "$WINDOW_S"
C1=$(sum_over cpu_ticks "${TARGET_PIDS[@]}")
T1=$(date +%s.%N)
SYS1=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
LOAD_PSS=$(sum_over pss_kb "${TARGET_PIDS[@]}")
wait "$UAC" || log "sipp UAC exited $? (see $OUT/uac_err.log)"
sleep 3

if [ "$TARGET" = calltrack ]; then
	# Per call: packets relayed both ways and seconds of media; the packet rate of a call is
	# their ratio, the window's packets that rate times CALLS times the window.
	read -r PACKETS MEDIA_S DONE <<<"$(sqlite3 -separator ' ' "$OUT/ct.db" \
		"SELECT COALESCE(SUM(rtp_caller_packets + rtp_callee_packets),0),
		        COALESCE(SUM(MAX(rtp_caller_media_secs, rtp_callee_media_secs)),0), COUNT(*)
		 FROM cdr WHERE disposition = 'answered'")"
	RECORDED=$(ls "$OUT/recordings" | wc -l)
else
	# No CDRs: the nominal rate (sipp sends 50 packets/s each way per call); the run is only
	# valid when rtpengine relayed the calls (its log, and the check below).
	PACKETS=$((CALLS * HOLD_S * 100)); MEDIA_S=$((CALLS * HOLD_S)); DONE=$CALLS
	RECORDED=$(find "$OUT/rtpe-recordings" -name '*.pcap' 2>/dev/null | wc -l)
	for p in "${TARGET_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { log "INVALID RUN: $TARGET process $p died (see $OUT/*.log)"; }; done
	grep -q "did not respond" "$OUT/kamailio.log" && log "INVALID RUN: Kamailio could not reach rtpengine; media went direct"
fi
awk -v c0="$C0" -v c1="$C1" -v t0="$T0" -v t1="$T1" -v hz="$CLK_TCK" -v p="$PACKETS" \
	-v m="$MEDIA_S" -v n="$CALLS" -v done="$DONE" -v idle="$IDLE_PSS" -v load="$LOAD_PSS" \
	-v s0="$SYS0" -v s1="$SYS1" -v target="$TARGET" -v rec="$RECORDED" -v out="$OUT" 'BEGIN {
	w = t1 - t0; cpu = (c1 - c0) / hz; pps = (m > 0) ? p / m * n : 0
	printf "target\t%s\ncalls\t%d (answered %d, recordings %d)\n", target, n, done, rec
	printf "window_s\t%.1f\npackets_per_s\t%.0f (%d packets over %d call-seconds: CDRs for calltrack, nominal for rtpengine)\n", w, pps, p, m
	printf "cpu_of_target\t%.1f %% of one core\n", 100 * cpu / w
	printf "cpu_per_packet_us\t%.2f\n", (pps > 0) ? 1e6 * cpu / (pps * w) : -1
	printf "box_busy\t%.0f %% of one core (everything, sipp included)\n", 100 * (s1 - s0) / hz / w
	printf "pss_idle_kb\t%d\npss_loaded_kb\t%d\npss_per_call_kb\t%.1f\n", idle, load, (load - idle) / n
	printf "results\t%s\n", out
}' | tee "$OUT/summary.tsv"
