#!/usr/bin/env bash
# Call rate of calltrack beside Kamailio, on equal terms: a thin front to the shared side-by-side
# harness (../shared/bench/side-by-side.sh, README beside it), which drives the same sipp UAC and
# UAS, the same transaction-aware scenario and the same pass rule through both targets in one run.
#
#   benches/load.sh                       compare at "4000 5000 5500 6000", 3 runs each (medians)
#   benches/load.sh compare "5000 6000" 3 any mode of the harness, passed through unchanged
#   benches/load.sh ramp calltrack udp "2000 4000 6000 8000"
#   benches/load.sh hold calltrack 500 10 20
#
# Builds the release binary first. Loopback only; the harness bounds every run in calls and time.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench/side-by-side.sh}
[ -f "$HARNESS" ] || {
  echo "side-by-side harness not found at $HARNESS (set HARNESS=path/to/side-by-side.sh)" >&2
  exit 2
}
command -v sipp >/dev/null || { echo "sipp is needed: apt-get install sip-tester" >&2; exit 2; }
cargo build --release --quiet
export CT_BIN=${CT_BIN:-$PWD/target/release/calltrack}
if [ $# -eq 0 ]; then
  set -- compare "4000 5000 5500 6000" 3
fi
exec bash "$HARNESS" "$@"
