#!/usr/bin/env bash
# Where the bridge spends its CPU on the WhatsApp ingest path: a release bridge on the SQLite
# bus (`durability = full`), signed webhooks from `whatsapp-load` for SECS seconds, and
# `perf record` (Debian's linux-perf) on the bridge meanwhile. Writes the flat profile (self
# time by function, top ROWS) to bench/results/profile-whatsapp-sqlite.txt.
#
# Usage: bench/profile-whatsapp.sh   Knobs (env): SECS=10 CONNECTIONS=32 ROWS=45 FREQ=499
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
CONNECTIONS=${CONNECTIONS:-32}
ROWS=${ROWS:-45}
FREQ=${FREQ:-499}
KEY=bench-key-0123456789abcdef
SECRET=bench-app-secret-0123456789
PN=106540352242922

command -v perf >/dev/null || { echo "bench/profile-whatsapp.sh needs perf (Debian: linux-perf)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench/profile-whatsapp.sh needs jq" >&2; exit 1; }

. "$REPO/bench/lib.sh"
build_release_binaries
bench_setup omnibridge-wa-profile
whatsapp_bench_config "$WORK/bench.toml" "$PN"

port=$(free_port)
mkdir -p "$WORK/data"
OMNIBRIDGE_API_KEYS=$KEY \
OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
OMNIBRIDGE__STORAGE__DURABILITY=full \
BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused \
RUST_LOG=warn \
    "$BRIDGE" --config "$WORK/bench.toml" serve --bind "127.0.0.1:$port" --data-dir "$WORK/data" \
    >"$WORK/bridge.log" 2>&1 &
BRIDGE_PID=$!
PIDS+=("$BRIDGE_PID")
wait_for "http://127.0.0.1:$port/readyz" "omnibridge"

perf record -F "$FREQ" -g -p "$BRIDGE_PID" -o "$WORK/perf.data" -- sleep "$((SECS + 2))" 2>"$WORK/perf.log" &
PERF=$!
BENCH_WA_APP_SECRET=$SECRET "$LOAD" load --url "http://127.0.0.1:$port/webhooks/bench-wa" \
    --connections "$CONNECTIONS" --secs "$SECS" --warmup-secs 1 --label sqlite | tee "$WORK/load.out" >&2
wait "$PERF" || true
stop "$BRIDGE_PID"

OUT="$REPO/bench/results/profile-whatsapp-sqlite.txt"
{
    echo "# bench/profile-whatsapp.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), commit $(git rev-parse --short HEAD)"
    echo "# load: $(grep '^{' "$WORK/load.out" | jq -c '{req_per_s, p50_ms, p99_ms}')"
    echo "# by binary (perf report --no-children --sort dso):"
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -n 6
    echo "# perf record -F $FREQ -g -p <bridge> ; perf report --no-children --sort dso,sym (self time)"
    perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -g none --percent-limit 0.4 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -n "$ROWS"
} >"$OUT"
cat "$OUT"
