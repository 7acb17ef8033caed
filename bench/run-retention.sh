#!/usr/bin/env bash
# Retention benchmark (not a test): the real binary under a steady web-chat load with a short
# retention age; the storage footprint is sampled every few seconds and should stay flat once
# retention kicks in. Writes bench/results/retention.{md,jsonl}.
#
# Usage: bench/run-retention.sh        (from anywhere inside the repository)
# Knobs (env): SECS=130 per backend, RATE=300 msg/s, CONNECTIONS=8, MAX_AGE_SECS=30,
#              INTERVAL_SECS=5 (retention runs), SAMPLE_SECS=5, BACKENDS="sqlite redis",
#              RESULTS_DIR=bench/results,
#              BRIDGE=... LOAD=... (prebuilt omnibridge and webchat-load; skips the build)
# SQLite: the data dir's size (du, database + WAL). Redis: used_memory and the stream length.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-130}
RATE=${RATE:-300}
CONNECTIONS=${CONNECTIONS:-8}
MAX_AGE_SECS=${MAX_AGE_SECS:-30}
INTERVAL_SECS=${INTERVAL_SECS:-5}
SAMPLE_SECS=${SAMPLE_SECS:-5}
BACKENDS=${BACKENDS:-sqlite redis}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef

command -v jq >/dev/null || { echo "bench/run-retention.sh needs jq" >&2; exit 1; }

BUILD_CMD="cargo build --release -p omnibridge -p omnibridge-bench"
if [[ -z ${BRIDGE:-} || -z ${LOAD:-} ]]; then
    echo "+ $BUILD_CMD" >&2
    $BUILD_CMD
    TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    BRIDGE="$TARGET/release/omnibridge"
    LOAD="$TARGET/release/webchat-load"
fi

. "$REPO/bench/lib.sh"
bench_setup omnibridge-retention

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()
ENV_RETENTION="OMNIBRIDGE__STORAGE__RETENTION__MAX_AGE_SECS=$MAX_AGE_SECS OMNIBRIDGE__STORAGE__RETENTION__DEDUP_MIN_AGE_SECS=$MAX_AGE_SECS OMNIBRIDGE__STORAGE__RETENTION__UNACKED_MAX_AGE_SECS=$((MAX_AGE_SECS * 2)) OMNIBRIDGE__STORAGE__RETENTION__INTERVAL_SECS=$INTERVAL_SECS"

# metric BASE KIND: omnibridge_retention_trimmed_total{kind=KIND} (0 before the first run).
metric() {
    { curl -fs "$1/metrics" || true; } | awk -v k="omnibridge_retention_trimmed_total{kind=\"$2\"}" '$1 == k {print $2; f=1} END {if (!f) print 0}'
}

# sample NAME BASE DATA: one JSON line per SAMPLE_SECS until the load generator is gone.
sample() {
    local name=$1 base=$2 data=$3 start=$SECONDS bytes mem xlen
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        bytes=$(du -sb "$data" 2>/dev/null | cut -f1)
        bytes=${bytes:-0}
        mem=null xlen=null
        if [[ $name == redis ]]; then
            mem=$(redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
            xlen=$(redis-cli -p "$REDIS_PORT" xlen '{omnibridge}:events' | tr -d '\r')
            mem=${mem:-null} xlen=${xlen:-null}
        fi
        jq -nc --arg backend "$name" --argjson t $((SECONDS - start)) --argjson data_bytes "$bytes" \
            --argjson redis_used_memory "$mem" --argjson stream_len "$xlen" \
            --argjson events_in "$({ curl -fs "$base/metrics" || true; } | awk '$1 ~ /^omnibridge_events_in_total/ {s += $2} END {print s + 0}')" \
            --argjson trimmed_events "$(metric "$base" events)" --argjson trimmed_dedup "$(metric "$base" dedup)" \
            '{backend: $backend, t: $t, data_bytes: $data_bytes, redis_used_memory: $redis_used_memory,
              stream_len: $stream_len, events_in: $events_in, trimmed_events: $trimmed_events,
              trimmed_dedup: $trimmed_dedup}' >>"$JSONL" || true
        sleep "$SAMPLE_SECS"
    done
}

# run_backend NAME BUS
run_backend() {
    local name=$1 bus=$2 port data base cmd
    port=$(free_port)
    data="$WORK/data-$name"
    mkdir -p "$data"
    base="http://127.0.0.1:$port"
    env OMNIBRIDGE_API_KEYS=$KEY OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
        OMNIBRIDGE__STORAGE__BUS="$bus" OMNIBRIDGE__STORAGE__DURABILITY=full RUST_LOG=info \
        $ENV_RETENTION \
        "$BRIDGE" serve --bind "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/bridge-$name.log" 2>&1 &
    local bridge=$!
    PIDS+=("$bridge")
    wait_for "$base/readyz" "omnibridge ($name)"
    COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__TEMPLATES__DIR=templates OMNIBRIDGE__STORAGE__BUS=${bus//:[0-9]*\//:REDIS_PORT/} OMNIBRIDGE__STORAGE__DURABILITY=full RUST_LOG=info $ENV_RETENTION omnibridge serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>")

    cmd=(--url "$base" --connections "$CONNECTIONS" --rate "$RATE" --secs "$SECS" --warmup-secs 0)
    echo "== $name: $RATE msg/s for $SECS s, max_age_secs=$MAX_AGE_SECS" >&2
    BENCH_API_KEY=$KEY "$LOAD" "${cmd[@]}" --label "retention/$name" >"$WORK/load-$name.out" 2>&1 &
    LOAD_PID=$!
    PIDS+=("$LOAD_PID")
    COMMANDS+=("webchat-load --url http://127.0.0.1:PORT ${cmd[*]:2} --label retention/$name")
    sample "$name" "$base" "$data"
    wait "$LOAD_PID" || true
    grep '^{' "$WORK/load-$name.out" | jq -c --arg backend "$name" '{backend: $backend, load: .}' >>"$JSONL" || true
    grep 'retention: trimmed' "$WORK/bridge-$name.log" | tail -2 >&2 || true
    stop "$bridge"
}

for backend in $BACKENDS; do
    case $backend in
        sqlite) run_backend sqlite sqlite ;;
        redis)
            command -v redis-server >/dev/null || { echo "redis-server missing" >&2; exit 1; }
            start_redis redis --appendonly no
            run_backend redis "redis://127.0.0.1:$REDIS_PORT/"
            stop "$REDIS_PID"
            ;;
    esac
done

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/retention.jsonl"
{
    echo "# Retention benchmark"
    echo
    echo "Generated by \`bench/run-retention.sh\`; raw samples in [\`retention.jsonl\`](retention.jsonl)."
    echo "A steady web-chat load with \`max_age_secs = $MAX_AGE_SECS\` (de-dup records also $MAX_AGE_SECS s,"
    echo "unacked hard limit $((MAX_AGE_SECS * 2)) s, a retention run every $INTERVAL_SECS s): the footprint"
    echo "grows for about \`max_age_secs\` and then stays flat while events keep arriving."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version)$(command -v redis-server >/dev/null && echo ", $(redis-server --version | cut -d' ' -f1-3)")"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- load: $CONNECTIONS web-chat connections, $RATE msg/s offered, $SECS s per backend"
    if [[ -n ${TARGET:-} ]]; then echo "- binaries: release build"; else echo "- binaries: prebuilt, $(basename "$(dirname "$BRIDGE")") profile ($BRIDGE)"; fi
    echo
    for backend in $BACKENDS; do
        echo "## $backend"
        echo
        if [[ $backend == redis ]]; then
            echo "| t (s) | events in | events trimmed | de-dup trimmed | stream length | Redis used_memory (MiB) | data dir (MiB) |"
            echo "|---:|---:|---:|---:|---:|---:|---:|"
            jq -r --arg b "$backend" 'select(.backend == $b and .t != null) | "| \(.t) | \(.events_in) | \(.trimmed_events) | \(.trimmed_dedup) | \(.stream_len) | \(.redis_used_memory / 1048576 * 100 | round / 100) | \(.data_bytes / 1048576 * 100 | round / 100) |"' "$JSONL"
        else
            echo "| t (s) | events in | events trimmed | de-dup trimmed | data dir (MiB) |"
            echo "|---:|---:|---:|---:|---:|"
            jq -r --arg b "$backend" 'select(.backend == $b and .t != null) | "| \(.t) | \(.events_in) | \(.trimmed_events) | \(.trimmed_dedup) | \(.data_bytes / 1048576 * 100 | round / 100) |"' "$JSONL"
        fi
        echo
        jq -r --arg b "$backend" 'select(.backend == $b and .load != null) | "Load generator: \(.load.msgs_per_s) msg/s acked, ack p99 \(.load.ack_p99_ms) ms."' "$JSONL"
        echo
    done
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-retention.sh   # SECS=$SECS RATE=$RATE CONNECTIONS=$CONNECTIONS MAX_AGE_SECS=$MAX_AGE_SECS INTERVAL_SECS=$INTERVAL_SECS SAMPLE_SECS=$SAMPLE_SECS BACKENDS=\"$BACKENDS\""
    echo "# which ran:"
    if [[ -n ${TARGET:-} ]]; then echo "$BUILD_CMD"; fi
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/retention.md"
echo "wrote $RESULTS_DIR/retention.md and retention.jsonl" >&2
cat "$RESULTS_DIR/retention.md"
