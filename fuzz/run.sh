#!/usr/bin/env bash
# Runs every fuzz target (cargo-fuzz, libFuzzer) and prints executions and crashes per target.
#
#   fuzz/run.sh [--seconds 60] [--runs N] [--targets "sip_roundtrip tcp_framing snippet_json lead_json"]
#
# Stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags. AddressSanitizer is used
# when it links; `--sanitizer none` otherwise (FUZZ_SANITIZER=none forces it). Exits non-zero
# when any target finds a crash; the reproducer is in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=60
RUNS=""
TARGETS="sip_roundtrip tcp_framing snippet_json lead_json"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
./seed.sh
SAN=${FUZZ_SANITIZER:-address}
if [ "$SAN" = address ] && ! cargo fuzz build -s address -O >/dev/null 2>&1; then
  echo "*** AddressSanitizer build failed; fuzzing without a sanitizer ***" >&2
  SAN=none
fi
LIMIT=(-max_total_time="$SECONDS_PER_TARGET")
[ -n "$RUNS" ] && LIMIT=(-runs="$RUNS")
status=0
for t in $TARGETS; do
  log=$(mktemp)
  if cargo fuzz run -s "$SAN" -O "$t" -- "${LIMIT[@]}" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH; status=1
    tail -60 "$log"
  fi
  runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  secs=$(grep -m1 -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$SECONDS_PER_TARGET")
  printf 'fuzz %-14s %s: %s executions in %s s (sanitizer %s)\n' "$t" "$result" "$runs" "$secs" "$SAN"
  rm -f "$log"
done
exit $status
