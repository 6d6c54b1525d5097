#!/usr/bin/env bash
# Several nodes against one (issue 16), side by side in one invocation on this box:
#
#   benches/nodes.sh calls RATE [SECS]   # the call rate through 1 embedded node (memory leases,
#                                        # SQLite), 1 node on Redis + PostgreSQL and 2 nodes on
#                                        # Redis + PostgreSQL; CPU per call of calltrack, Redis
#                                        # and PostgreSQL
#   benches/nodes.sh leases [SECS]       # HTTP lease grants: 1 embedded node against 2 nodes
#                                        # sharing Redis (wrk on each node at once)
#   benches/nodes.sh all RATE [SECS]     # both
#
# Every server is started here in a temporary directory on loopback (redis-server, initdb +
# pg_ctl with fsync off as the tests do) and stopped by PID at the end. The same sipp UAC and
# UAS as ../shared/bench/side-by-side.sh (its transaction-aware UAC scenario and its pass
# rule: at most 0.1 % failed calls); 0-s calls, RATE calls/s in total, split evenly between
# the nodes (one sipp UAC per node). CPU is read from /proc (utime + stime) of each process
# tree before and after a step. Every loop is bounded in count and time.
#
# Needs: sipp, redis-server, PostgreSQL (/usr/lib/postgresql/*/bin), wrk (leases), python3.
# CT_BIN picks the binary (default target/release/calltrack, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=$ROOT/../shared/bench

MODE=${1:-}
case "$MODE" in
calls | all) RATE=${2:?RATE}; SECS=${3:-20} ;;
leases) SECS=${2:-10} ;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac

need() { command -v "$1" >/dev/null || { echo "$1 is needed ($2)" >&2; exit 2; }; }
need sipp "apt-get install sip-tester"
need redis-server "apt-get install redis-server"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is needed (apt-get install postgresql)" >&2; exit 2; }
[ "$MODE" = calls ] || need wrk "apt-get install wrk"

CT_BIN=${CT_BIN:-$ROOT/target/release/calltrack}
[ -x "$CT_BIN" ] || cargo build --release --quiet
WORK=$(mktemp -d -t ctnodes.XXXXXX)
chmod 755 "$WORK"
PIDS=()
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$WORK/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- servers
REDIS_PORT=$(port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$WORK" --logfile redis.log &
REDIS_PID=$!
PIDS+=("$REDIS_PID")

PG_PORT=$(port)
mkdir -p "$WORK/pg" "$WORK/pgsock"
[ "$(id -u)" = 0 ] && chown postgres "$WORK/pg" "$WORK/pgsock"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U calltrack --auth=trust -E UTF8 --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pgsock/server.log" -w -t 60 start -o \
	"-c listen_addresses=127.0.0.1 -k $WORK/pgsock -p $PG_PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" >/dev/null
PG_PID=$(head -1 "$WORK/pg/postmaster.pid")
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

redis_used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

DB_NO=0
new_db() { # a fresh database per step (DB_NO, bumped by the caller), so no step reads another's rows
	"$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U calltrack -d postgres -c "CREATE DATABASE bench$DB_NO" >/dev/null
	redis-cli -p "$REDIS_PORT" flushall >/dev/null
	echo "postgres://calltrack@127.0.0.1:$PG_PORT/bench$DB_NO"
}

# ---------------------------------------------------------------- CPU
CLK_TCK=$(getconf CLK_TCK)
tree() { echo "$1"; ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }
ticks() { # sum utime+stime of the pids given (gone ones count 0)
	local t=0 p f
	for p in "$@"; do
		f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + ${f% *} + ${f#* }))
	done
	echo "$t"
}

# ---------------------------------------------------------------- nodes
NODE_PIDS=()
NODE_HTTP=()
NODE_SIP=()
# start_node N SHARED(0|1) DB_URL UAS_PORT [POOL_NUMBERS]
start_node() {
	local n=$1 shared=$2 url=$3 uas=$4 numbers=${5:-}
	local d=$WORK/node$n sip http
	mkdir -p "$d"
	sip=$(port)
	http=$(port)
	{
		cat <<TOML
[sip]
udp_listen = ["127.0.0.1:$sip"]
tcp_listen = ["127.0.0.1:$sip"]
[http]
listen = "127.0.0.1:$http"
rate_limit_per_minute = 1000000000
[calls]
max_concurrent_calls = 100000
[log]
level = "warn"
[health]
enabled = false
[node]
id = "node-$n"
TOML
		if [ "$shared" = 1 ]; then
			cat <<TOML
[store]
path = "$d/calltrack.db"
backend = "postgres"
url = "$url"
spool_path = "$d/spool.db"
[leases]
backend = "redis"
url = "redis://127.0.0.1:$REDIS_PORT/0"
TOML
		else
			printf '[store]\npath = "%s/calltrack.db"\n' "$d"
		fi
		cat <<TOML
[[sites]]
id = "bench"
forward_to = "sip:127.0.0.1:$uas"
default_number = "74990000000"
reserve_number = "74990000001"
freeze_secs = 1200
heartbeat_secs = 30
origins = ["https://shop.example"]
[[sites.static_numbers]]
number = "74950000001"
source = "load"
TOML
		if [ -n "$numbers" ]; then
			printf '[[sites.pools]]\nid = "web"\nnumbers = [%s]\n' "$numbers"
		fi
	} >"$d/ct.toml"
	"$CT_BIN" --config "$d/ct.toml" serve >"$d/serve.log" 2>&1 &
	local pid=$!
	disown "$pid" # stop_nodes may have to kill -9 a node still draining: no job notice
	PIDS+=("$pid")
	for _ in $(seq 1 200); do
		curl -sf "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$http/health" >/dev/null 2>&1 || { tail -20 "$d/serve.log" >&2; return 1; }
	NODE_PIDS+=("$pid")
	NODE_HTTP+=("$http")
	NODE_SIP+=("$sip")
}

stop_nodes() {
	local p
	for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${NODE_PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	NODE_PIDS=()
	NODE_HTTP=()
	NODE_SIP=()
}

# ---------------------------------------------------------------- calls
# calls_step LABEL NODES SHARED: RATE calls/s in total for SECS seconds, split between NODES nodes
calls_step() {
	local label=$1 nodes=$2 shared=$3 url="" i uas d
	d=$WORK/$label
	mkdir -p "$d"
	if [ "$shared" = 1 ]; then DB_NO=$((DB_NO + 1)); url=$(new_db); fi
	uas=$(port)
	sipp -sn uas -i 127.0.0.1 -p "$uas" -nostdin -buff_size 8388608 -timeout "$((SECS + 60))s" \
		>"$d/uas.out" 2>&1 &
	local uas_pid=$!
	PIDS+=("$uas_pid")
	for i in $(seq 1 "$nodes"); do start_node "$i" "$shared" "$url" "$uas"; done
	sleep 1
	local per=$((RATE / nodes)) calls=$((RATE * SECS / nodes)) uacs=()
	local ct0 rd0 pg0 t0 t1 pgp
	pgp=$(tree "$PG_PID")
	ct0=$(ticks "${NODE_PIDS[@]}"); rd0=$(ticks "$REDIS_PID"); pg0=$(ticks $pgp)
	t0=$(date +%s.%N)
	for i in $(seq 0 $((nodes - 1))); do
		timeout -k 5 $((SECS + 40)) sipp -sf "$SHARED/sipp-uac-load.xml" "127.0.0.1:${NODE_SIP[$i]}" \
			-s 74950000001 -i 127.0.0.1 -p "$(port)" -t u1 -nostdin -buff_size 8388608 \
			-r "$per" -rp 1000 -m "$calls" -l $((per * 6 + 200)) -d 0 -recv_timeout 8000 \
			-timeout "$((SECS + 30))s" -trace_stat -stf "$d/uac$i.csv" -fd 1 \
			>"$d/uac$i.out" 2>&1 &
		uacs+=($!)
	done
	for p in "${uacs[@]}"; do wait "$p" || true; done
	t1=$(date +%s.%N)
	pgp=$(tree "$PG_PID")
	local ct1 rd1 pg1
	ct1=$(ticks "${NODE_PIDS[@]}"); rd1=$(ticks "$REDIS_PID"); pg1=$(ticks $pgp)
	local ok=0 failed=0 cps=0 st
	for i in $(seq 0 $((nodes - 1))); do
		st=$(python3 "$SHARED/sipp_stat.py" "$d/uac$i.csv")
		ok=$((ok + $(eval "$st"; echo "${success:-0}")))
		failed=$((failed + $(eval "$st"; echo "$((${failed:-0} + ${incomplete:-0}))")))
	done
	stop_nodes
	kill "$uas_pid" 2>/dev/null || true
	awk -v label="$label" -v rate="$RATE" -v n=$((calls * nodes)) -v ok="$ok" -v failed="$failed" \
		-v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v ct=$((ct1 - ct0)) -v rd=$((rd1 - rd0)) -v pg=$((pg1 - pg0)) 'BEGIN {
			wall = t1 - t0; bad = n - ok;
			v = (bad <= 0.001 * n) ? "PASS" : "FAIL";
			printf "%-22s %6d %8d %8d %7d %7.1f %7.1f %7.1f %8.1f %8.1f  %s\n", label, rate, n, ok, failed,
				100 * ct / hz / wall, 100 * rd / hz / wall, 100 * pg / hz / wall,
				(ok > 0) ? 1e6 * ct / hz / ok : 0, (ok > 0) ? 1e6 * (ct + rd + pg) / hz / ok : 0, v
		}'
	if [ "$shared" = 1 ]; then
		"$PGBIN/psql" -qtA -h 127.0.0.1 -p "$PG_PORT" -U calltrack -d "bench$DB_NO" -c \
			"SELECT count(*), pg_total_relation_size('cdr') FROM cdr" |
			awk -F'|' '$1 > 0 { printf "  CDRs in PostgreSQL: %d, table with its indexes and TOAST %.1f MB: %.0f bytes per CDR\n", $1, $2 / 1e6, $2 / $1 }' 
	fi
}

calls() {
	log "calls: $RATE calls/s for ${SECS}s per step, 0-s calls"
	printf "%-22s %6s %8s %8s %7s %7s %7s %7s %8s %8s  %s\n" setup rate calls ok failed "ct%" "redis%" "pg%" "ct_us" "all_us" verdict
	calls_step one-embedded 1 0
	calls_step one-redis-pg 1 1
	calls_step two-redis-pg 2 1
	calls_step one-embedded-again 1 0
}

# ---------------------------------------------------------------- leases
leases_step() { # LABEL NODES SHARED
	local label=$1 nodes=$2 shared=$3 url="" i ranges="" d=$WORK/$1
	mkdir -p "$d"
	if [ "$shared" = 1 ]; then DB_NO=$((DB_NO + 1)); url=$(new_db); fi
	# 500 000 numbers: more than the grants of a step, so the pool never runs dry
	for i in 0 1 2 3 4; do ranges="$ranges\"7496${i}000000-7496${i}099999\", "; done
	local mem0 mem1 mem2 exp leased
	mem0=$(redis_used)
	for i in $(seq 1 "$nodes"); do start_node "$i" "$shared" "$url" 5999 "${ranges%, }"; done
	mem1=$(redis_used)
	local conns=$((64 / nodes)) wrks=() rd0 rd1 ct0 ct1 t0 t1
	rd0=$(ticks "$REDIS_PID"); ct0=$(ticks "${NODE_PIDS[@]}"); t0=$(date +%s.%N)
	for i in $(seq 0 $((nodes - 1))); do
		wrk -t1 -c"$conns" -d"${SECS}s" --latency -s "$ROOT/benches/http_leases.lua" \
			"http://127.0.0.1:${NODE_HTTP[$i]}" >"$d/wrk$i.out" 2>&1 &
		wrks+=($!)
	done
	for p in "${wrks[@]}"; do wait "$p" || true; done
	rd1=$(ticks "$REDIS_PID"); ct1=$(ticks "${NODE_PIDS[@]}"); t1=$(date +%s.%N)
	awk -v rd=$((rd1 - rd0)) -v ct=$((ct1 - ct0)) -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN {
		printf "  CPU: calltrack %.0f %%, Redis %.0f %% of a core\n", 100 * ct / hz / (t1 - t0), 100 * rd / hz / (t1 - t0) }'
	if [ "$shared" = 1 ]; then
		mem2=$(redis_used)
		exp=$(redis-cli -p "$REDIS_PORT" --scan --pattern '*pool:bench/web:exp' | head -1)
		leased=$(redis-cli -p "$REDIS_PORT" zcard "$exp")
		awk -v m0="$mem0" -v m1="$mem1" -v m2="$mem2" -v n=500000 -v l="$leased" 'BEGIN {
			printf "  Redis used_memory: %.1f MB for %d registered numbers (%.0f bytes each), +%.1f MB for %d live leases (%.0f bytes each)\n",
				(m1 - m0) / 1e6, n, (m1 - m0) / n, (m2 - m1) / 1e6, l, (l > 0) ? (m2 - m1) / l : 0 }' >&2
	fi
	stop_nodes
	local total=0 r
	for i in $(seq 0 $((nodes - 1))); do
		r=$(awk '/^requests\/s:/ {print $2}' "$d/wrk$i.out")
		total=$((total + ${r:-0}))
		echo "  $label node $i: $(grep -E 'requests/s|latency p' "$d/wrk$i.out" | tr '\n' ' ')"
	done
	echo "$label: $total grants/s in total"
}

leases() {
	log "leases: wrk 64 connections in total, ${SECS}s per step"
	leases_step one-embedded 1 0
	leases_step two-on-redis 2 1
	leases_step one-on-redis 1 1
}

case "$MODE" in
calls) calls ;;
leases) leases ;;
all) calls; leases ;;
esac
