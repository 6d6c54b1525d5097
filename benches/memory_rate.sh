#!/usr/bin/env bash
# Memory per call rate of calltrack (issue 12), loopback only, with the shared side-by-side harness:
#
#   benches/memory_rate.sh slope ["R1 R2 ..."="1000 2000 3000"] [SECS=40]
#       PSS of the idle daemon (baseline), then the peak PSS while sipp offers each rate of 0-s
#       calls for SECS seconds (longer than the 32-s Timer L/M/J windows, so the memory reaches
#       its steady state), one fresh daemon per rate; prints the slope in MB per 1 000 calls/s
#       (least squares over the rates) apart from the baseline. A rate whose step did not pass
#       is marked and left out of the slope.
#   benches/memory_rate.sh heap RATE [SECS=40]
#       the same load under heaptrack; the binary must be built with glibc malloc
#       (`cargo build --release --features system-allocator`, CT_BIN names it); prints the peak
#       heap and the top allocation sites by peak (heaptrack_print).
#
# CT_BIN picks the binary (default target/release/calltrack). Ports: UAC 5360, calltrack 5370,
# UAS 5380 (UAC_PORT/PROXY_PORT/UAS_PORT override). The harness bounds every sipp run in calls
# and time and stops what it started by PID; this script stops the idle daemon by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-$(cd .. && pwd)/shared/bench/side-by-side.sh}
[ -x "$HARNESS" ] || HARNESS=/work/shared/bench/side-by-side.sh
export UAC_PORT=${UAC_PORT:-5360} PROXY_PORT=${PROXY_PORT:-5370} UAS_PORT=${UAS_PORT:-5380}
export CT_BIN=${CT_BIN:-$PWD/target/release/calltrack}
OUT=${OUT:-/tmp/calltrack-memory/$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$OUT"
command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
[ -x "$CT_BIN" ] || { echo "no binary at $CT_BIN (cargo build --release)" >&2; exit 2; }

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# PSS (kB) of the daemon with nothing to do, after its start-up settled.
idle_pss_kb() {
	local d=$OUT/idle pid pss
	mkdir -p "$d"
	cat >"$d/ct.toml" <<TOML
[sip]
udp_listen = ["127.0.0.1:$PROXY_PORT"]
tcp_listen = ["127.0.0.1:$PROXY_PORT"]
[http]
listen = "127.0.0.1:0"
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
forward_to = "sip:127.0.0.1:$UAS_PORT"
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
	"$CT_BIN" serve --config "$d/ct.toml" >"$d/calltrack.log" 2>&1 &
	pid=$!
	sleep 5
	pss=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "${pss:-0}"
}

# One harness step at RATE for SECS; echoes "rate pss_kb verdict".
step_pss() {
	local rate=$1 secs=$2
	OUT=$OUT/r$rate "$HARNESS" step calltrack "$rate" $((rate * secs)) 0 udp >"$OUT/r$rate.log" 2>&1 || true
	awk -F'\t' 'NR > 1 {print $5, $23, $31}' "$OUT/r$rate/steps.tsv" | tail -1
}

slope() {
	local rates=${1:-1000 2000 3000} secs=${2:-40} base r row
	base=$(idle_pss_kb)
	log "idle PSS ${base} kB"
	: >"$OUT/points"
	for r in $rates; do
		row=$(step_pss "$r" "$secs")
		log "rate $r: PSS ${row#* }"
		echo "$row" >>"$OUT/points"
	done
	awk -v base="$base" -v secs="$secs" '
		{ printf "rate %5d calls/s for %d s: peak PSS %6.1f MB (%s)\n", $1, secs, $2/1024, $3 }
		$3 == "PASS" { n++; x += $1/1000; y += $2/1024; xx += ($1/1000)^2; xy += ($1/1000)*($2/1024) }
		END {
			printf "idle PSS %.1f MB\n", base/1024
			if (n >= 2) { s = (n*xy - x*y) / (n*xx - x*x); printf "slope %.1f MB per 1 000 calls/s (least squares over %d passing rates), intercept %.1f MB\n", s, n, (y - s*x)/n }
		}' "$OUT/points" | tee "$OUT/summary.txt"
}

heap() {
	local rate=${1:?RATE} secs=${2:-40} wrap=$OUT/heaptrack-calltrack.sh comm
	comm=$(basename "$CT_BIN" | cut -c1-15)
	command -v heaptrack >/dev/null || { echo "heaptrack is needed: apt-get install heaptrack" >&2; exit 2; }
	# The harness stops its daemon with TERM: pass it to calltrack itself so that heaptrack
	# sees a normal exit and writes the whole profile.
	cat >"$wrap" <<SH
#!/usr/bin/env bash
heaptrack -o "$OUT/heap" "$CT_BIN" "\$@" >"$OUT/heaptrack.log" 2>&1 &
hp=\$!
ct=""
stop() { [ -n "\$ct" ] && kill -TERM "\$ct" 2>/dev/null; wait "\$hp"; exit 0; }
trap stop TERM INT
for _ in \$(seq 50); do ct=\$(ps -o pid=,comm= --ppid "\$hp" | awk -v c="$comm" '\$2 == c {print \$1}'); [ -n "\$ct" ] && break; sleep 0.1; done
wait "\$hp"
SH
	chmod +x "$wrap"
	OUT=$OUT/run CT_BIN=$wrap "$HARNESS" step calltrack "$rate" $((rate * secs)) 0 udp >"$OUT/run.log" 2>&1 || true
	for _ in $(seq 300); do grep -q 'Heaptrack finished' "$OUT/heaptrack.log" 2>/dev/null && break; sleep 1; done
	local f
	f=$(ls "$OUT"/heap.* | head -1)
	awk -F'\t' 'NR > 1 {print "step:", $5, "calls/s,", $9, "ok,", $10 + $11, "failed,", $31}' "$OUT/run/steps.tsv"
	heaptrack_print -f "$f" --print-peaks 1 --print-allocators 0 --print-temporary 0 \
		--print-leaks 0 --peak-limit 25 --sub-peak-limit 3 >"$OUT/heap.txt" 2>&1 || true
	grep -E '^peak heap memory consumption|^total memory leaked|^calls to allocation functions' "$OUT/heap.txt" || true
	echo "top sites by peak: $OUT/heap.txt"
}

mode=${1:-help}
shift || true
case $mode in
slope) slope "${1:-}" "${2:-40}" ;;
heap) heap "${1:-}" "${2:-40}" ;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac
