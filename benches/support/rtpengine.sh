# Sourced by benches/media_load.sh (TARGET=rtpengine): starts rtpengine in userspace mode
# (--table=-1: no kernel forwarding) with pcap recording, and Kamailio in front of it
# (kamailio-rtpengine.cfg). Sets TARGET_PIDS (rtpengine, Kamailio's main process and its
# workers) and appends every started PID to PIDS. Needs: apt-get install rtpengine-daemon kamailio.
NG_PORT=${NG_PORT:-22222}
# RTPE_RECORD=0 runs without recording. Debian 12's rtpengine 10.5.3.5 with pcap recording
# segfaults when it is stopped (SIGTERM, after the measurement): the shell reports it; the
# figures are taken before.
RTPE_RECORD=${RTPE_RECORD:-1}
start_rtpengine_target() {
	command -v rtpengine >/dev/null || { echo "rtpengine is needed: apt-get install rtpengine-daemon" >&2; exit 2; }
	command -v kamailio >/dev/null || { echo "kamailio is needed: apt-get install kamailio" >&2; exit 2; }
	mkdir -p "$OUT/rtpe-recordings" "$OUT/kam"
	RECORDING_ARGS=()
	[ "$RTPE_RECORD" = 1 ] && RECORDING_ARGS=(--recording-dir="$OUT/rtpe-recordings" --recording-method=pcap --recording-format=raw)
	rtpengine --foreground --log-stderr --table=-1 --interface=127.0.0.1 \
		--listen-ng=127.0.0.1:$NG_PORT --port-min=$RTP_FIRST --port-max=$((RTP_FIRST + 4 * CALLS + 99)) \
		${RECORDING_ARGS[@]+"${RECORDING_ARGS[@]}"} --num-threads=2 \
		--log-level=4 --pidfile="$OUT/rtpe.pid" >"$OUT/rtpengine.log" 2>&1 &
	local rtpe=$! i
	PIDS+=($rtpe)
	# Kamailio pings rtpengine once at start and disables it for a minute if it gets no answer.
	for ((i = 0; i < 50; i++)); do
		ss -Hlnu "sport = :$NG_PORT" | grep -q . && break
		kill -0 "$rtpe" 2>/dev/null || { echo "rtpengine died at start" >&2; tail "$OUT/rtpengine.log" >&2; exit 1; }
		sleep 0.1
	done
	kamailio -f "$ROOT/benches/support/kamailio-rtpengine.cfg" -DD -E -S -Y "$OUT/kam" \
		-P "$OUT/kam/k.pid" -m 256 -M 8 --substdef="!PROXY_PORT!$PROXY_PORT!" \
		--substdef="!UAS_PORT!$UAS_PORT!" --substdef="!NG_PORT!$NG_PORT!" \
		--substdef="!RECORD!$([ "$RTPE_RECORD" = 1 ] && echo record-call=yes)!" >"$OUT/kamailio.log" 2>&1 &
	local kam=$!
	PIDS+=($kam)
	sleep 1.5
	TARGET_PIDS=($rtpe $kam $(pgrep -P "$kam" | tr '\n' ' '))
}
