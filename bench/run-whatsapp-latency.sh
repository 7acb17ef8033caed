#!/usr/bin/env bash
# WhatsApp latency benchmark (issue 15's goal): signed ~1.4 KB text webhooks paced at RATE/s
# for SECS after a warm-up, each its own wamid; p50/p90/p99/max of the webhook's answer and of
# webhook → event on an open SSE stream (GET /v1/events?type=message.received&channel=whatsapp),
# plus missing/duplicate counts. A fresh bridge per backend: SQLite bus with durability=full,
# Redis bus with appendfsync everysec; and the minimal verify-and-parse server (no storage, no
# SSE) at the same rate as the baseline, and the minimal correct one (de-dup + fsynced append); the disk's fdatasync latency before each bridge. Writes bench/results/whatsapp-latency.{md,jsonl}.
#
# Usage: bench/run-whatsapp-latency.sh   (from anywhere inside the repository)
# Knobs (env): RATE=2000 SECS=10 WARMUP_SECS=2 BODY_BYTES=1400 REDIS_AOF=1 RESULTS_DIR=bench/results
#              SQLITE_NORMAL=1 (also SQLite with durability=normal, a diagnostic row: no fsync per
#              commit, so the difference to the sqlite row is the fsyncs' share; 0 to skip)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
RATE=${RATE:-2000}
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
BODY_BYTES=${BODY_BYTES:-1400}
REDIS_AOF=${REDIS_AOF:-1}
SQLITE_NORMAL=${SQLITE_NORMAL:-1}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef
SECRET=bench-app-secret-0123456789
PN=106540352242922
SSE_QUERY="/v1/events?type=message.received&channel=whatsapp"

command -v jq >/dev/null || { echo "bench/run-whatsapp-latency.sh needs jq" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench/run-whatsapp-latency.sh needs redis-server" >&2; exit 1; }

. "$REPO/bench/lib.sh"
build_release_binaries
bench_setup omnibridge-wa-latency
whatsapp_bench_config "$WORK/bench.toml" "$PN"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=("whatsapp-load fsync --dir <the bridge's fresh data dir> --count 500   # before each bridge")
DISK=null
LOAD_ARGS=(--rate "$RATE" --secs "$SECS" --warmup-secs "$WARMUP_SECS" --body-bytes "$BODY_BYTES")

# measure NAME BASE_URL [SSE]: paced load on BASE_URL/webhooks/bench-wa, with the SSE consumer
# when the third argument is "sse".
measure() {
    local name=$1 base=$2 extra=()
    if [[ ${3:-} == sse ]]; then
        extra=(--sse-url "$base$SSE_QUERY")
    fi
    echo "== $name" >&2
    BENCH_WA_APP_SECRET=$SECRET BENCH_API_KEY=$KEY \
        "$LOAD" load --url "$base/webhooks/bench-wa" "${LOAD_ARGS[@]}" "${extra[@]}" --label "$name" \
        | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" | jq -c --arg backend "$name" --argjson disk "${DISK:-null}" \
        '. + {backend: $backend, disk: $disk}' >>"$JSONL"
    local shown=("${extra[@]}")
    [[ ${#shown[@]} -gt 0 ]] && shown=(--sse-url "'http://127.0.0.1:PORT$SSE_QUERY'")
    COMMANDS+=("BENCH_WA_APP_SECRET=<secret> BENCH_API_KEY=<key> whatsapp-load load --url http://127.0.0.1:PORT/webhooks/bench-wa ${LOAD_ARGS[*]} ${shown[*]} --label $name")
}

# run_bridge NAME BUS_URL_OR_sqlite [DURABILITY]
run_bridge() {
    local name=$1 bus=$2 durability=${3:-full} port data
    port=$(free_port)
    data="$WORK/data-$name"
    mkdir -p "$data"
    # The disk's own fdatasync latency, just before the bridge starts (the same-run floor).
    DISK=$("$LOAD" fsync --dir "$data" --count 500 --label "$name" | grep '^{')
    echo "disk: $DISK" >&2
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__BUS=$bus \
    OMNIBRIDGE__STORAGE__DURABILITY=$durability \
    BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused \
    RUST_LOG=warn \
        "$BRIDGE" --config "$WORK/bench.toml" serve --bind "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/bridge-$name.log" 2>&1 &
    local bridge=$!
    PIDS+=("$bridge")
    wait_for "http://127.0.0.1:$port/readyz" "omnibridge ($name)"
    COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__STORAGE__BUS=${bus//:[0-9]*\//:REDIS_PORT/} OMNIBRIDGE__STORAGE__DURABILITY=$durability BENCH_WA_*=<secrets> RUST_LOG=warn omnibridge --config <[[channels]] bench-wa> serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>")
    measure "$name" "http://127.0.0.1:$port" sse
    if grep -qiE 'error|panic' "$WORK/bridge-$name.log"; then
        echo "warnings from the bridge ($name):" >&2
        tail -5 "$WORK/bridge-$name.log" >&2
    fi
    stop "$bridge"
    DISK=null
}

start_minimal minimal ""
measure minimal "http://127.0.0.1:$port"
stop "$MINIMAL"

# The minimal correct server (de-dup + fsynced append, nothing else): the disk path's own tail.
data="$WORK/data-minimal-correct"
mkdir -p "$data"
DISK=$("$LOAD" fsync --dir "$data" --count 500 --label minimal-correct | grep '^{')
start_minimal minimal-correct "--durable <fresh temp dir>/log.sqlite" --durable "$data/log.sqlite"
measure minimal-correct "http://127.0.0.1:$port"
stop "$MINIMAL"
DISK=null

run_bridge sqlite sqlite

if [[ $SQLITE_NORMAL == 1 ]]; then
    # Diagnostic, not the goal's configuration: the same bus without an fsync per commit.
    run_bridge sqlite-normal sqlite normal
fi

if [[ $REDIS_AOF == 1 ]]; then
    start_redis redis-aof --appendonly yes --appendfsync everysec
    run_bridge redis-aof "redis://127.0.0.1:$REDIS_PORT/"
    stop "$REDIS_PID"
fi

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/whatsapp-latency.jsonl"
sse_cell() { # jq filter for an SSE field, "—" for the minimal server
    echo "(if .sse_samples == null then \"—\" else (.$1 | tostring) + \"$2\" end)"
}
{
    echo "# WhatsApp latency benchmark (issue 15)"
    echo
    echo "Generated by \`bench/run-whatsapp-latency.sh\` (see [bench/README.md](../README.md#whatsapp-latency));"
    echo "raw results in [\`whatsapp-latency.jsonl\`](whatsapp-latency.jsonl)."
    echo
    echo "Goal: at 2,000 msg/s for 10 s, p99 webhook arrival → event on an open SSE stream < 5 ms and"
    echo "p99 of the webhook's answer < 5 ms, nothing lost or doubled (SQLite bus, \`durability = full\`)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- load average when the runs started / ended: $LOADAVG_START / $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: anything"
    echo "  else running competes for the 2 cores and the disk)"
    echo "- $(rustc --version), $(redis-server --version | cut -d' ' -f1-3)"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- load: paced (open loop) at $RATE req/s, ${WARMUP_SECS} s warm-up + ${SECS} s measured; signed one-message"
    echo "  text webhooks of $(jq -s '[.[].body_bytes] | max' "$JSONL") bytes, a fresh wamid each, 1,000 customers; latency counted from each"
    echo "  request's *scheduled* send instant (no coordinated omission); one SSE consumer on"
    echo "  \`$SSE_QUERY\`, matched on \`provider_message_id\`; the load generator"
    echo "  runs on the same cores as the server (and Redis)"
    echo
    echo "| server | req/s (200) | answer p50 | p90 | p99 | max | SSE p50 | p90 | p99 | max | errors | missing on SSE | duplicates on SSE |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r "\"| \(.backend) | \(.req_per_s) | \(.p50_ms) ms | \(.p90_ms) ms | \(.p99_ms) ms | \(.max_ms) ms | \($(sse_cell sse_p50_ms ' ms')) | \($(sse_cell sse_p90_ms ' ms')) | \($(sse_cell sse_p99_ms ' ms')) | \($(sse_cell sse_max_ms ' ms')) | \(.errors) | \($(sse_cell sse_missing '')) | \($(sse_cell sse_duplicates '')) |\"" "$JSONL"
    echo
    echo "The disk's own fdatasync latency (4 KiB appends, back to back, on the data dir's file system, just"
    echo "before each bridge started), p50 / p99 / max: $(jq -r -s 'map(select(.disk != null) | "\(.backend) \(.disk.fsync_p50_ms) / \(.disk.fsync_p99_ms) / \(.disk.fsync_max_ms) ms") | join(", ")' "$JSONL"). A webhook on the"
    echo "SQLite bus waits for one fsynced group commit (its conversation rows, de-dup record and event in"
    echo "one transaction); on Redis for the store's commit (SQLite), then the append (AOF everysec)."
    echo
    echo "Sender's own share (due → send), p99 / max: $(jq -r -s 'map("\(.backend) \(.send_lag_p99_ms) / \(.send_lag_max_ms) ms") | join(", ")' "$JSONL")."
    echo
    echo "*minimal*: \`whatsapp-load serve\` (verify + parse + normalise, no storage, no SSE) at the same"
    echo "rate: what the HTTP stack and the load generator cost by themselves. The bridge rows add the"
    echo "conversation update, de-duplication and the durable append before the 200, and the SSE fan-out."
    echo "*minimal-correct*: \`whatsapp-load serve --durable\` (the same plus de-duplication and the event's"
    echo "append to a SQLite log, fsynced per group commit, before the 200; no SSE served): the tail the"
    echo "disk path has by itself."
    echo "*sqlite-normal* (when present) is a diagnostic, not the goal's configuration: the same bus with"
    echo "\`durability = normal\` (no fsync per commit; a power loss can lose the last answered webhooks)."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-whatsapp-latency.sh   # RATE=$RATE SECS=$SECS WARMUP_SECS=$WARMUP_SECS BODY_BYTES=$BODY_BYTES REDIS_AOF=$REDIS_AOF SQLITE_NORMAL=$SQLITE_NORMAL"
    echo "# which ran:"
    echo "$BUILD_CMD"
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/whatsapp-latency.md"
echo "wrote $RESULTS_DIR/whatsapp-latency.md and whatsapp-latency.jsonl" >&2
cat "$RESULTS_DIR/whatsapp-latency.md"
