#!/usr/bin/env bash
# Call rate with transcription running beside it (issue 15, Performance): the same sipp UAC and
# UAS drive calls through calltrack at fixed rates twice, first with `[speech] engine = "off"`,
# then with the embedded PocketSphinx engine busy on a queue of recorded calls (espeak-ng
# voices mixed to the recorder's 8 kHz stereo WAV by sox, seeded straight into the speech
# queue, so the pool never runs dry while sipp runs). Per rate and mode it prints the sipp
# verdict (the side-by-side harness's pass rule), calltrack's CPU per call, and, with speech,
# the pool's throughput and real-time factor; then whether the call rate with transcription
# stays within 5 % of the rate without.
#
#   benches/speech_load.sh                      RATES="1000 2000 3000", 20 s per step, 1 worker
#   RATES="2000 4000" SECS=30 WORKERS=2 benches/speech_load.sh
#   QUEUE=400 RECORDINGS=8 benches/speech_load.sh
#
# Pass rule per step (as ../shared/bench/side-by-side.sh): at most 0.1 % failed calls, at least
# 95 % of the asked rate (calls sipp made over its run less the last call's hold), average INVITE->200 at most 50 ms, at most 0.5 % of calls over 200 ms.
# The rate with speech is "within 5 %" when every rate that passes without speech also passes
# with it and its achieved rate is at least 95 % of the achieved rate without.
#
# CPU: calltrack's utime+stime from /proc over the step, less the speech workers' own CPU
# (calltrack_speech_cpu_milliseconds_total, added by each worker thread as it ends, so a decode
# that spans the step's end counts in the next), per call. The real-time factor is the
# workers' CPU over the seconds of audio transcribed in the step
# (calltrack_speech_audio_seconds_total); the wall real-time factor is
# calltrack_speech_engine_seconds over the same audio.
# The workers run at nice +10 (src/speech/worker_thread.rs), `[speech] workers` at once.
#
# Needs sipp, espeak-ng, sox, sqlite3, curl, libpocketsphinx3 and pocketsphinx-en-us. Loopback
# only; every sipp run is bounded by -m and -timeout and an outer `timeout`; every process
# started here is stopped by its PID. The box may be shared: the summary says how busy it was;
# compare the two modes of one invocation, never figures from another day.
# CT_BIN overrides the binary (default: target/release/calltrack, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HARNESS_DIR=${HARNESS_DIR:-$ROOT/../shared/bench}
[ -d "$HARNESS_DIR" ] || HARNESS_DIR=/work/shared/bench
RATES=${RATES:-1000 2000 3000}
SECS=${SECS:-20}
HOLD_MS=${HOLD_MS:-1000}
WORKERS=${WORKERS:-1}
QUEUE=${QUEUE:-300}
RECORDINGS=${RECORDINGS:-6}
MODEL_DIR=${MODEL_DIR:-/usr/share/pocketsphinx/model/en-us}
IP=127.0.0.1
UAC_PORT=${UAC_PORT:-25060}
PROXY_PORT=${PROXY_PORT:-25070}
UAS_PORT=${UAS_PORT:-25080}
HTTP_PORT=${HTTP_PORT:-25090}
UAC_MP=${UAC_MP:-26000}
UAS_MP=${UAS_MP:-28000}
SIPP_BUF=4194304
OUT=${OUT:-${TMPDIR:-/tmp}/speech-load/$(date +%Y%m%d-%H%M%S)-$$}
CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
PIDS=()

log() { echo "[speech_load] $*" >&2; }
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT

for tool in sipp espeak-ng sox sqlite3 curl python3; do
	command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install sip-tester espeak-ng sox sqlite3 curl)" >&2; exit 2; }
done
ldconfig -p | grep -q libpocketsphinx.so.3 && [ -f "$MODEL_DIR/en-us.lm.bin" ] ||
	{ echo "PocketSphinx is needed: apt-get install libpocketsphinx3 pocketsphinx-en-us" >&2; exit 2; }
for p in $UAC_PORT $PROXY_PORT $UAS_PORT; do
	if ss -Hlnu "sport = :$p" | grep -q .; then log "port $p in use; set UAC_PORT/PROXY_PORT/UAS_PORT"; exit 2; fi
done
if [ -z "${CT_BIN:-}" ]; then
	[ -x target/release/calltrack ] || cargo build --release --quiet --bin calltrack
	CT_BIN=$ROOT/target/release/calltrack
fi

# ---------------------------------------------------------------- recorded calls
# The agent greets on the right channel, then the caller speaks on the left (as recorded).
PHRASES=(
	"hello I would like to know the price of the sofa and whether you deliver on saturday"
	"good morning do you have the blue model in stock and how much is delivery to the city"
	"sorry I think I dialed the wrong number I was looking for the dentist"
	"hi can I pay by card and pick it up myself tomorrow after work"
	"we are a marketing agency and would like to offer you our services"
	"how long is the warranty and can I return it if it does not fit"
	"I want to order two chairs and a table what is the total with delivery"
	"please remove my number from your list I never asked for this"
)
say() { # VOICE TEXT OUT
	espeak-ng -v "$1" -s 140 -w "$OUT/raw.wav" "$2"
	sox -R "$OUT/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$3"
}
secs() { soxi -D "$1"; }
mkdir -p "$OUT/wav"
say en-us+f3 "thank you for calling the furniture shop how can I help you" "$OUT/wav/agent.wav"
AUDIO_TOTAL=0
for ((i = 0; i < RECORDINGS; i++)); do
	said=$OUT/wav/said-$i.wav
	say en-us+m3 "${PHRASES[$((i % ${#PHRASES[@]}))]}" "$said"
	g=$(secs "$OUT/wav/agent.wav"); t=$(secs "$said")
	sox -R "$said" "$OUT/wav/left.wav" pad "$(awk -v g="$g" 'BEGIN{printf "%.2f", g + 0.5}')" 1
	sox -R "$OUT/wav/agent.wav" "$OUT/wav/right.wav" pad 0 "$(awk -v t="$t" 'BEGIN{printf "%.2f", t + 1.5}')"
	sox -R -M "$OUT/wav/left.wav" "$OUT/wav/right.wav" "$OUT/wav/call-$i.wav"
done
CALL_S=$(for f in "$OUT"/wav/call-*.wav; do secs "$f"; done | awk '{s+=$1} END{printf "%.1f", s/NR}')
log "$RECORDINGS recorded calls of $CALL_S s on average (two channels each), $QUEUE queued per speech run"

# ---------------------------------------------------------------- calltrack
start_calltrack() { # MODE DIR
	local mode=$1 d=$2 speech
	if [ "$mode" = speech ]; then
		speech="engine = \"pocketsphinx\"
workers = $WORKERS
poll_secs = 1
[speech.pocketsphinx]
model_dir = \"$MODEL_DIR\""
	else
		speech='engine = "off"'
	fi
	cat >"$d/ct.toml" <<TOML
[sip]
udp_listen = ["$IP:$PROXY_PORT"]
tcp_listen = ["$IP:$PROXY_PORT"]
[http]
listen = "$IP:$HTTP_PORT"
[store]
path = "$d/ct.db"
[calls]
max_concurrent_calls = 100000
shutdown_grace_secs = 5
[log]
level = "warn"
[health]
enabled = false
[speech]
$speech
[[sites]]
id = "load"
forward_to = "sip:$IP:$UAS_PORT"
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
	"$CT_BIN" serve --config "$d/ct.toml" >"$d/calltrack.log" 2>&1 &
	CT_PID=$!
	PIDS+=($CT_PID)
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fs "http://$IP:$HTTP_PORT/metrics" >/dev/null 2>&1 && break
		kill -0 "$CT_PID" 2>/dev/null || { tail -20 "$d/calltrack.log" >&2; exit 1; }
		sleep 0.1
	done
	curl -fs "http://$IP:$HTTP_PORT/metrics" >/dev/null || { log "no /metrics on $IP:$HTTP_PORT"; exit 1; }
}

# QUEUE jobs, cycling over the recordings (the same tables whether the engine runs or not).
seed_queue() { # DIR
	python3 - "$1/ct.db" "$OUT/wav" "$QUEUE" "$RECORDINGS" <<'PY'
import sqlite3, sys
db, wav, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = sqlite3.connect(db, timeout=10)
with conn:
    conn.executemany(
        "INSERT INTO speech_jobs (call_id, path, enqueued_at, due_at) VALUES (?, ?, ?, ?)",
        [(f"bench-{i}", f"{wav}/call-{i % k}.wav", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
         for i in range(n)])
PY
}

metric() { # NAME: the sum of its samples in /metrics (0 when absent)
	curl -fs "http://$IP:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.3f", s + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
done_jobs() { sqlite3 -cmd ".timeout 5000" "$1/ct.db" "SELECT count(*) FROM transcripts"; }

# ---------------------------------------------------------------- one step
step() { # MODE DIR RATE -> one TSV row on stdout
	local mode=$1 d=$2 rate=$3 s="$2/rate-$3"
	mkdir -p "$s"
	local n=$((rate * SECS)) limit=$((rate * (HOLD_MS / 1000 + 3) * 2 + 200)) to=$((SECS + 30))
	sipp -sn uas -i $IP -p $UAS_PORT -mp $UAS_MP -nostdin -buff_size $SIPP_BUF -timeout "$((to + 10))s" \
		-trace_err -error_file "$s/uas_err.log" -max_log_size 1048576 >"$s/uas.out" 2>&1 &
	local uas=$!
	PIDS+=($uas)
	sleep 0.5
	local c0 y0 a0 e0 j0 t0 c1 y1 a1 e1 j1 t1 w0 w1
	c0=$(cpu_ticks "$CT_PID"); y0=$(sys_ticks); t0=$(date +%s.%N)
	a0=$(metric calltrack_speech_audio_seconds_total); e0=$(metric calltrack_speech_engine_seconds_sum)
	w0=$(metric calltrack_speech_cpu_milliseconds_total); j0=$(done_jobs "$d")
	timeout -k 5 $((to + 10)) sipp -sf "$HARNESS_DIR/sipp-uac-load.xml" "$IP:$PROXY_PORT" -s 74950000001 \
		-i $IP -p $UAC_PORT -mp $UAC_MP -t u1 -nostdin -buff_size $SIPP_BUF -r "$rate" -rp 1000 \
		-m "$n" -l "$limit" -d "$HOLD_MS" -recv_timeout 8000 -timeout "${to}s" \
		-trace_stat -stf "$s/uac_stat.csv" -fd 1 -trace_err -error_file "$s/uac_err.log" \
		-max_log_size 1048576 >"$s/uac.out" 2>&1 || true
	c1=$(cpu_ticks "$CT_PID"); y1=$(sys_ticks); t1=$(date +%s.%N)
	a1=$(metric calltrack_speech_audio_seconds_total); e1=$(metric calltrack_speech_engine_seconds_sum)
	w1=$(metric calltrack_speech_cpu_milliseconds_total); j1=$(done_jobs "$d")
	stop_pid "$uas"
	local st queued
	st=$(python3 "$HARNESS_DIR/sipp_stat.py" "$s/uac_stat.csv")
	echo "$st" >"$s/uac_summary.txt"
	queued=$(sqlite3 -cmd ".timeout 5000" "$d/ct.db" "SELECT count(*) FROM speech_jobs")
	(
		eval "$st"
		awk -v mode="$mode" -v rate="$rate" -v n="$n" -v ok="$success" -v failed="$failed" \
			-v cps="$(awk -v c="$created" -v e="$elapsed_s" -v h="$HOLD_MS" 'BEGIN{d = e - h / 1000; if (d < 1) d = 1; printf "%.1f", c / d}')" -v rt="$rt_avg_ms" -v ge200="$rt_ge200" -v c0="$c0" -v c1="$c1" \
			-v y0="$y0" -v y1="$y1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v a0="$a0" -v a1="$a1" \
			-v e0="$e0" -v e1="$e1" -v j0="$j0" -v j1="$j1" -v queued="$queued" -v w0="$w0" -v w1="$w1" 'BEGIN {
			w = t1 - t0; workers = (w1 - w0) / 1000; cpu = (c1 - c0) / hz - workers; done = ok + failed
			pass = (failed <= 0.001 * n && cps >= 0.95 * rate && rt <= 50 && ge200 <= 0.005 * n) ? "PASS" : "FAIL"
			printf "%s\t%d\t%.1f\t%d\t%d\t%.2f\t%d\t%s\t%.0f\t%.1f\t%.1f\t%d\t%.1f\t%.3f\t%d\t%.0f\t%.1f\n",
				mode, rate, cps, ok, failed, rt, ge200, pass, 100 * cpu / w,
				(done > 0) ? 1e6 * cpu / done : 0, w, j1 - j0, a1 - a0,
				(a1 > a0) ? (e1 - e0) / (a1 - a0) : 0, queued, 100 * (y1 - y0) / hz / w, workers
		}'
	)
}

# ---------------------------------------------------------------- both modes
HEAD="mode\trate\tachieved_cps\tok\tfailed\trt_avg_ms\trt_ge200\tverdict\tct_cpu_pct\tct_cpu_us_per_call\twindow_s\ttranscribed\taudio_s\twall_rtf\tqueue_left\tbox_busy_pct\tworker_cpu_s"
echo -e "$HEAD" >"$OUT/steps.tsv"
for mode in off speech; do
	d=$OUT/$mode
	mkdir -p "$d"
	start_calltrack "$mode" "$d"
	seed_queue "$d"
	if [ "$mode" = speech ]; then
		# Warm: the engine loads its model and the pool is busy before sipp starts.
		for ((i = 0; i < 600; i++)); do
			[ "$(done_jobs "$d")" -ge 1 ] && break
			kill -0 "$CT_PID" 2>/dev/null || { tail -20 "$d/calltrack.log" >&2; exit 1; }
			sleep 0.1
		done
		[ "$(done_jobs "$d")" -ge 1 ] || { log "no transcript after 60 s; see $d/calltrack.log"; exit 1; }
	fi
	for rate in $RATES; do
		log "$mode: $rate calls/s for $SECS s"
		step "$mode" "$d" "$rate" | tee -a "$OUT/steps.tsv" >/dev/null
	done
	stop_pid "$CT_PID"
done

# ---------------------------------------------------------------- summary
python3 - "$OUT/steps.tsv" "$CLK_TCK" "$WORKERS" "$OUT" <<'PY' | tee "$OUT/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
workers, out = sys.argv[3], sys.argv[4]
by = {(r["mode"], r["rate"]): r for r in rows}
rates = sorted({int(r["rate"]) for r in rows})
print(f"speech_load: calls through calltrack, without and with {workers} PocketSphinx worker(s) busy")
print(f"{'rate':>6} | {'off: cps':>9} {'verdict':>7} {'µs/call':>8} | {'speech: cps':>11} {'verdict':>7} {'µs/call':>8} | {'speech CPU':>10} {'audio s':>8} {'rec.':>5} {'CPU RTF':>7} {'wall RTF':>8} | box busy")
ok_all = True
for rate in rates:
    a, b = by.get(("off", str(rate))), by.get(("speech", str(rate)))
    if not (a and b):
        continue
    speech_cpu = float(b["worker_cpu_s"])
    audio = float(b["audio_s"])
    rtf = speech_cpu / audio if audio > 0 else float("nan")
    within = float(b["achieved_cps"]) >= 0.95 * float(a["achieved_cps"])
    if a["verdict"] == "PASS" and (b["verdict"] != "PASS" or not within):
        ok_all = False
    print(f"{rate:>6} | {float(a['achieved_cps']):>9.1f} {a['verdict']:>7} {float(a['ct_cpu_us_per_call']):>8.1f} | "
          f"{float(b['achieved_cps']):>11.1f} {b['verdict']:>7} {float(b['ct_cpu_us_per_call']):>8.1f} | "
          f"{speech_cpu:>9.1f}s {audio:>8.0f} {int(b['transcribed']):>5} {rtf:>7.2f} {float(b['wall_rtf']):>8.2f} | "
          f"{a['box_busy_pct']}% / {b['box_busy_pct']}% of one core")
    if int(b["queue_left"]) == 0:
        print(f"       warning: the speech queue ran dry at {rate} calls/s; raise QUEUE")
best = lambda mode: max([int(r["rate"]) for r in rows if r["mode"] == mode and r["verdict"] == "PASS"], default=0)
print(f"highest passing rate: {best('off')} calls/s without transcription, {best('speech')} with")
print(("PASS" if ok_all else "FAIL") + ": with transcription beside, every rate that passes without it passes, at >= 95 % of its achieved rate")
print("µs/call: calltrack's CPU less the speech workers' (calltrack_speech_cpu_milliseconds_total), per call;")
print("speech CPU: the workers' CPU in the step; CPU RTF = that / audio seconds transcribed (both channels);")
print("wall RTF = calltrack_speech_engine_seconds / audio seconds (workers at nice +10 wait for CPU).")
print(f"steps: {out}/steps.tsv; logs and sipp stats under {out}/")
PY
