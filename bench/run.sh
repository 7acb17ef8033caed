#!/usr/bin/env bash
# Web-chat ingest benchmark: messages/s through the web chat into the SQLite bus and the Redis
# bus, with send→SSE and send→ack latency. Writes bench/results/webchat-ingest.{md,jsonl}.
#
# Usage: bench/run.sh            (from anywhere inside the repository)
# Knobs (env): SECS=10 WARMUP_SECS=2 CONNECTIONS=32 WINDOW=8 PACED_PERCENT=50
#              REDIS_AOF=1 (also run Redis with appendfsync everysec; 0 to skip)
#              RESULTS_DIR=bench/results (binaries come from cargo's target dir)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-32}
WINDOW=${WINDOW:-8}
PACED_PERCENT=${PACED_PERCENT:-50}
REDIS_AOF=${REDIS_AOF:-1}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef

command -v jq >/dev/null || { echo "bench/run.sh needs jq" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench/run.sh needs redis-server" >&2; exit 1; }

BUILD_CMD="cargo build --release -p omnibridge -p omnibridge-bench"
echo "+ $BUILD_CMD" >&2
$BUILD_CMD
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BRIDGE="$TARGET/release/omnibridge"
LOAD="$TARGET/release/webchat-load"

WORK=$(mktemp -d -t omnibridge-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

wait_for() { # url-or-port, what
    local i
    for i in $(seq 1 200); do
        if [[ $1 == http* ]]; then
            curl -fs -o /dev/null "$1" && return 0
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        fi
        sleep 0.1
    done
    echo "$2 did not come up" >&2
    exit 1
}

stop() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()

# run_backend NAME BUS_URL_OR_sqlite
run_backend() {
    local name=$1 bus=$2 port data base max rate cmd
    port=$(free_port)
    data="$WORK/data-$name"
    mkdir -p "$data"
    base="http://127.0.0.1:$port"
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__BUS=$bus \
    OMNIBRIDGE__STORAGE__DURABILITY=full \
    RUST_LOG=warn \
        "$BRIDGE" serve --bind "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/bridge-$name.log" 2>&1 &
    local bridge=$!
    PIDS+=("$bridge")
    wait_for "$base/readyz" "omnibridge ($name)"
    COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__TEMPLATES__DIR=templates OMNIBRIDGE__STORAGE__BUS=${bus//:[0-9]*\//:REDIS_PORT/} OMNIBRIDGE__STORAGE__DURABILITY=full RUST_LOG=warn omnibridge serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>")

    cmd=(--url "$base" --connections "$CONNECTIONS" --window "$WINDOW" --secs "$SECS" --warmup-secs "$WARMUP_SECS")
    echo "== $name: max throughput" >&2
    BENCH_API_KEY=$KEY "$LOAD" "${cmd[@]}" --label "$name/max" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" | jq -c --arg backend "$name" --arg run max '. + {backend: $backend, run: $run}' >>"$JSONL"
    COMMANDS+=("webchat-load --url http://127.0.0.1:PORT ${cmd[*]:2} --label $name/max")

    max=$(grep '^{' "$WORK/out" | jq -r '.msgs_per_s')
    rate=$(jq -n --argjson max "$max" --argjson pct "$PACED_PERCENT" '($max * $pct / 100) | floor')
    echo "== $name: paced at $rate msg/s ($PACED_PERCENT% of $max)" >&2
    BENCH_API_KEY=$KEY "$LOAD" "${cmd[@]}" --rate "$rate" --label "$name/paced" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" | jq -c --arg backend "$name" --arg run "paced ${PACED_PERCENT}%" '. + {backend: $backend, run: $run}' >>"$JSONL"
    COMMANDS+=("webchat-load --url http://127.0.0.1:PORT ${cmd[*]:2} --rate $rate --label $name/paced")

    if grep -qiE 'error|panic' "$WORK/bridge-$name.log"; then
        echo "warnings from the bridge ($name):" >&2
        tail -5 "$WORK/bridge-$name.log" >&2
    fi
    stop "$bridge"
}

# start_redis NAME EXTRA_ARGS... ; sets REDIS_PID and REDIS_PORT
start_redis() {
    local name=$1
    shift
    REDIS_PORT=$(free_port)
    mkdir -p "$WORK/redis-$name"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis-$name" --save "" "$@" \
        >"$WORK/redis-$name.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    wait_for "$REDIS_PORT" "redis-server ($name)"
    COMMANDS+=("redis-server --port PORT --bind 127.0.0.1 --dir <temp dir> --save \"\" $*")
}

run_backend sqlite sqlite

start_redis redis --appendonly no
run_backend redis "redis://127.0.0.1:$REDIS_PORT/"
stop "$REDIS_PID"

if [[ $REDIS_AOF == 1 ]]; then
    start_redis redis-aof --appendonly yes --appendfsync everysec
    run_backend redis-aof "redis://127.0.0.1:$REDIS_PORT/"
    stop "$REDIS_PID"
fi

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/webchat-ingest.jsonl"
{
    echo "# Web-chat ingest benchmark"
    echo
    echo "Generated by \`bench/run.sh\` (see [bench/README.md](../README.md)); raw results in"
    echo "[\`webchat-ingest.jsonl\`](webchat-ingest.jsonl)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version), $(redis-server --version | cut -d' ' -f1-3)"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- load: $CONNECTIONS WebSocket connections, window $WINDOW, ${WARMUP_SECS} s warm-up + ${SECS} s measured;"
    echo "  the load generator runs on the same cores as the bridge (and Redis)"
    echo
    echo "| backend | run | msgs/s (acked) | SSE p50 | SSE p90 | SSE p99 | SSE max | ack p50 | ack p99 | SSE missing |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r '"| \(.backend) | \(.run)\(if .rate_target > 0 then " (\(.rate_target) offered)" else "" end) | \(.msgs_per_s) | \(.sse_p50_ms) ms | \(.sse_p90_ms) ms | \(.sse_p99_ms) ms | \(.sse_max_ms) ms | \(.ack_p50_ms) ms | \(.ack_p99_ms) ms | \(.sse_missing) |"' "$JSONL"
    echo
    echo "Latencies are from the client's send of a frame: *SSE* to the arrival of its"
    echo "\`message.received\` on \`GET /v1/events\`, *ack* to its \`ack\` frame (after the durable append)."
    echo "The paced run's latencies are the ones to quote; the max run's measure queueing at saturation."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run.sh   # SECS=$SECS WARMUP_SECS=$WARMUP_SECS CONNECTIONS=$CONNECTIONS WINDOW=$WINDOW PACED_PERCENT=$PACED_PERCENT REDIS_AOF=$REDIS_AOF"
    echo "# which ran:"
    echo "$BUILD_CMD"
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/webchat-ingest.md"
echo "wrote $RESULTS_DIR/webchat-ingest.md and webchat-ingest.jsonl" >&2
cat "$RESULTS_DIR/webchat-ingest.md"
