# Sourced by benches/media_load.sh (TARGET=rtpengine): starts rtpengine in userspace mode
# (--table=-1: no kernel forwarding) with pcap recording, and Kamailio in front of it
# (kamailio-rtpengine.cfg). Sets TARGET_PIDS (rtpengine, Kamailio's main process and its
# workers) and appends every started PID to PIDS. Needs: apt-get install rtpengine-daemon kamailio.
NG_PORT=${NG_PORT:-22222}
start_rtpengine_target() {
	command -v rtpengine >/dev/null || { echo "rtpengine is needed: apt-get install rtpengine-daemon" >&2; exit 2; }
	command -v kamailio >/dev/null || { echo "kamailio is needed: apt-get install kamailio" >&2; exit 2; }
	mkdir -p "$OUT/rtpe-recordings" "$OUT/kam"
	rtpengine --foreground --log-stderr --table=-1 --interface=127.0.0.1 \
		--listen-ng=127.0.0.1:$NG_PORT --port-min=$RTP_FIRST --port-max=$((RTP_FIRST + 4 * CALLS + 99)) \
		--recording-dir="$OUT/rtpe-recordings" --recording-method=pcap --num-threads=2 \
		--log-level=4 --pidfile="$OUT/rtpe.pid" >"$OUT/rtpengine.log" 2>&1 &
	local rtpe=$!
	PIDS+=($rtpe)
	kamailio -f "$ROOT/benches/support/kamailio-rtpengine.cfg" -DD -E -S -Y "$OUT/kam" \
		-P "$OUT/kam/k.pid" -m 256 -M 8 --substdef="!PROXY_PORT!$PROXY_PORT!" \
		--substdef="!UAS_PORT!$UAS_PORT!" --substdef="!NG_PORT!$NG_PORT!" >"$OUT/kamailio.log" 2>&1 &
	local kam=$!
	PIDS+=($kam)
	sleep 1.5
	TARGET_PIDS=($rtpe $kam $(pgrep -P "$kam" | tr '\n' ' '))
}
