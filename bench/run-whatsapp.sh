#!/usr/bin/env bash
# WhatsApp ingest benchmark: signed Cloud API webhooks per second (verify, parse, normalise,
# durable append) into the SQLite bus and the Redis bus, and the same load against the
# minimal verify-and-parse server (no storage), in one run. Writes
# bench/results/whatsapp-ingest.{md,jsonl}.
#
# Usage: bench/run-whatsapp.sh   (from anywhere inside the repository)
# Knobs (env): SECS=10 WARMUP_SECS=2 CONNECTIONS=32 REDIS_AOF=1 RESULTS_DIR=bench/results
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-32}
REDIS_AOF=${REDIS_AOF:-1}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef
SECRET=bench-app-secret-0123456789
PN=106540352242922

command -v jq >/dev/null || { echo "bench/run-whatsapp.sh needs jq" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench/run-whatsapp.sh needs redis-server" >&2; exit 1; }

BUILD_CMD="cargo build --release -p omnibridge -p omnibridge-bench"
echo "+ $BUILD_CMD" >&2
$BUILD_CMD
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BRIDGE="$TARGET/release/omnibridge"
LOAD="$TARGET/release/whatsapp-load"

WORK=$(mktemp -d -t omnibridge-wa-bench.XXXXXX)
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

cat >"$WORK/bench.toml" <<TOML
[[channels]]
id = "bench-wa"
type = "whatsapp"
phone_number_id = "$PN"
access_token_env = "BENCH_WA_ACCESS_TOKEN"
app_secret_env = "BENCH_WA_APP_SECRET"
verify_token_env = "BENCH_WA_VERIFY_TOKEN"
api_base = "http://127.0.0.1:9"
TOML

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()
LOAD_ARGS=(--connections "$CONNECTIONS" --secs "$SECS" --warmup-secs "$WARMUP_SECS")

# measure NAME URL
measure() {
    echo "== $1" >&2
    BENCH_WA_APP_SECRET=$SECRET "$LOAD" load --url "$2" "${LOAD_ARGS[@]}" --label "$1" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" | jq -c --arg backend "$1" '. + {backend: $backend}' >>"$JSONL"
    COMMANDS+=("whatsapp-load load --url $(sed -E 's/:[0-9]+\//:PORT\//' <<<"$2") ${LOAD_ARGS[*]} --label $1")
}

# run_bridge NAME BUS_URL_OR_sqlite
run_bridge() {
    local name=$1 bus=$2 port data
    port=$(free_port)
    data="$WORK/data-$name"
    mkdir -p "$data"
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__BUS=$bus \
    OMNIBRIDGE__STORAGE__DURABILITY=full \
    BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused \
    RUST_LOG=warn \
        "$BRIDGE" --config "$WORK/bench.toml" serve --bind "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/bridge-$name.log" 2>&1 &
    local bridge=$!
    PIDS+=("$bridge")
    wait_for "http://127.0.0.1:$port/readyz" "omnibridge ($name)"
    COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__STORAGE__BUS=${bus//:[0-9]*\//:REDIS_PORT/} OMNIBRIDGE__STORAGE__DURABILITY=full BENCH_WA_*=<secrets> RUST_LOG=warn omnibridge --config <[[channels]] bench-wa> serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>")
    measure "$name" "http://127.0.0.1:$port/webhooks/bench-wa"
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

port=$(free_port)
BENCH_WA_APP_SECRET=$SECRET "$LOAD" serve --bind "127.0.0.1:$port" >"$WORK/minimal.log" 2>&1 &
MINIMAL=$!
PIDS+=("$MINIMAL")
wait_for "$port" "minimal server"
COMMANDS+=("BENCH_WA_APP_SECRET=<secret> whatsapp-load serve --bind 127.0.0.1:PORT")
measure minimal "http://127.0.0.1:$port/webhooks/bench-wa"
stop "$MINIMAL"

run_bridge sqlite sqlite

start_redis redis --appendonly no
run_bridge redis "redis://127.0.0.1:$REDIS_PORT/"
stop "$REDIS_PID"

if [[ $REDIS_AOF == 1 ]]; then
    start_redis redis-aof --appendonly yes --appendfsync everysec
    run_bridge redis-aof "redis://127.0.0.1:$REDIS_PORT/"
    stop "$REDIS_PID"
fi

BASE=$(jq -s '[.[] | select(.backend == "minimal")][0].req_per_s' "$JSONL")
jq -c --argjson base "$BASE" '. + {ratio_to_minimal: ((.req_per_s / $base * 100 | round) / 100)}' "$JSONL" >"$WORK/with-ratio.jsonl"
mkdir -p "$RESULTS_DIR"
cp "$WORK/with-ratio.jsonl" "$RESULTS_DIR/whatsapp-ingest.jsonl"
{
    echo "# WhatsApp ingest benchmark"
    echo
    echo "Generated by \`bench/run-whatsapp.sh\` (see [bench/README.md](../README.md)); raw results in"
    echo "[\`whatsapp-ingest.jsonl\`](whatsapp-ingest.jsonl)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version), $(redis-server --version | cut -d' ' -f1-3)"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- load: $CONNECTIONS keep-alive connections, closed loop, signed one-message text webhooks"
    echo "  ($(jq -s '.[0].body_bytes' "$JSONL") bytes, a fresh wamid each), ${WARMUP_SECS} s warm-up + ${SECS} s measured;"
    echo "  the load generator runs on the same cores as the server (and Redis)"
    echo
    echo "| server | webhooks/s (200) | ratio to minimal | p50 | p99 | max | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    jq -r '"| \(.backend) | \(.req_per_s) | \(.ratio_to_minimal) | \(.p50_ms) ms | \(.p99_ms) ms | \(.max_ms) ms | \(.errors) |"' "$WORK/with-ratio.jsonl"
    echo
    echo "*minimal*: \`whatsapp-load serve\`, verify \`X-Hub-Signature-256\` + parse + normalise with the"
    echo "real adapter, no storage. The bridge rows add the conversation update, de-duplication and the"
    echo "durable append (\`durability=full\`), and answer 200 only after it."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-whatsapp.sh   # SECS=$SECS WARMUP_SECS=$WARMUP_SECS CONNECTIONS=$CONNECTIONS REDIS_AOF=$REDIS_AOF"
    echo "# which ran:"
    echo "$BUILD_CMD"
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/whatsapp-ingest.md"
echo "wrote $RESULTS_DIR/whatsapp-ingest.md and whatsapp-ingest.jsonl" >&2
cat "$RESULTS_DIR/whatsapp-ingest.md"
