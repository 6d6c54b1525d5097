#!/usr/bin/env bash
# calltrack with `[sip] workers = $CT_WORKERS` added to the config it is given, for the shared
# side-by-side harness (which writes its own config): the scaling from 1 to N shards of the core.
#
#   CT_WORKERS=1 CT_BIN=$PWD/benches/support/calltrack-workers.sh benches/load.sh repeat calltrack 5000 3
#
# `exec`s the release binary (REAL_CT_BIN, default target/release/calltrack), so the harness
# measures the daemon's own PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
real=${REAL_CT_BIN:-$here/target/release/calltrack}
workers=${CT_WORKERS:?set CT_WORKERS to the number of shards}
args=("$@")
for i in "${!args[@]}"; do
  if [ "${args[$i]}" = "--config" ] && [ $((i + 1)) -lt ${#args[@]} ]; then
    config=${args[$((i + 1))]}
    sed -i "0,/^\[sip\]$/s//[sip]\nworkers = $workers/" "$config"
  fi
done
exec "$real" "${args[@]}"
