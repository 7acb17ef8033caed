#!/usr/bin/env bash
# Payments benchmark: challenges/s and confirmations/s through omnibridge's MPP endpoint
# (`GET|POST /pay/{intent_id}`, Stripe method), through `mpp-baseline` (a minimal server on
# the `mpp` crate's own Stripe support, single-use guard in memory: the reference) and through
# `mpp-baseline --durable` (the same with its guard and settlements in SQLite, two fsynced
# commits per payment: a minimal correct server), all against one zero-latency Stripe fake,
# same load. Writes bench/results/payments.{md,jsonl}.
#
# Usage: bench/run-payments.sh      (from anywhere inside the repository)
# Knobs (env): SECS=10 WARMUP_SECS=2 CONCURRENCY=32 INTENTS=40000 CONVERSATIONS=8
#              DURABILITY=full (the bridge's storage.durability: full or normal)
#              RESULTS_DIR=bench/results (binaries come from cargo's target dir)
#              BRIDGE=<omnibridge binary> (skips its build; the results name it)
#              DURABLE_BASELINE=1 (0 skips the durable reference)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONCURRENCY=${CONCURRENCY:-32}
INTENTS=${INTENTS:-40000}
CONVERSATIONS=${CONVERSATIONS:-8}
DURABILITY=${DURABILITY:-full}
DURABLE_BASELINE=${DURABLE_BASELINE:-1}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef
NETWORK=profile_bench

command -v jq >/dev/null || { echo "bench/run-payments.sh needs jq" >&2; exit 1; }

# Two builds, so the bench crate's `mpp` server/stripe features are not unified into the
# bridge's build of `mpp`: the omnibridge measured is the one `cargo build -p omnibridge` makes.
# BRIDGE=/path/to/omnibridge measures that binary instead (e.g. a build of another commit).
BUILD_CMDS=("cargo build --release -p omnibridge-bench --bin stripe-fake --bin mpp-baseline --bin pay-load")
[[ -n ${BRIDGE:-} ]] || BUILD_CMDS=("cargo build --release -p omnibridge" "${BUILD_CMDS[@]}")
for cmd in "${BUILD_CMDS[@]}"; do
    echo "+ $cmd" >&2
    $cmd
done
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BRIDGE=${BRIDGE:-$TARGET/release/omnibridge}
FAKE="$TARGET/release/stripe-fake"
BASELINE="$TARGET/release/mpp-baseline"
LOAD="$TARGET/release/pay-load"

. "$REPO/bench/lib.sh"
bench_setup omnibridge-paybench

# first_line FILE WHAT: waits (up to 90 s: a busy machine is slow to start processes) for a
# process's first stdout line (its base URL) and prints it.
first_line() {
    local i
    for i in $(seq 1 900); do
        if [[ -s $1 ]]; then
            head -n1 "$1"
            return 0
        fi
        sleep 0.1
    done
    echo "$2 did not print its URL" >&2
    exit 1
}

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()
LOAD_ARGS=(--concurrency "$CONCURRENCY" --secs "$SECS" --warmup-secs "$WARMUP_SECS")

# load NAME SERVER URL EXTRA...: one pay-load run, appended to the JSON lines.
load() {
    local name=$1 server=$2 url=$3
    shift 3
    echo "== $name" >&2
    BENCH_API_KEY=$KEY "$LOAD" --url "$url" --server "$server" "${LOAD_ARGS[@]}" "$@" \
        --label "$name" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" >>"$JSONL"
    COMMANDS+=("pay-load --url http://127.0.0.1:PORT --server $server ${LOAD_ARGS[*]}${*:+ $*} --label $name")
}

"$FAKE" >"$WORK/fake.out" 2>"$WORK/fake.log" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
FAKE_URL=$(first_line "$WORK/fake.out" stripe-fake)
COMMANDS+=("stripe-fake   # prints http://127.0.0.1:FAKE_PORT; zero latency, key sk_test_fake")

# omnibridge: Stripe only (sandbox off), against the fake, fresh data dir, embedded defaults.
start_pay_bridge
COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__TEMPLATES__DIR=templates OMNIBRIDGE__STORAGE__DURABILITY=$DURABILITY OMNIBRIDGE__PAYMENTS__SANDBOX=false OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED=true OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE=http://127.0.0.1:FAKE_PORT OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID=$NETWORK OMNIBRIDGE_STRIPE_SECRET_KEY=sk_test_fake OMNIBRIDGE_STRIPE_WEBHOOK_SECRET=whsec_fake RUST_LOG=warn omnibridge serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>")
load omnibridge omnibridge "http://127.0.0.1:$port" --intents "$INTENTS" --conversations "$CONVERSATIONS"
if grep -qiE 'error|panic' "$WORK/bridge.log"; then
    echo "warnings from the bridge:" >&2
    tail -5 "$WORK/bridge.log" >&2
fi
stop "$BRIDGE_PID"

# The baseline, against the same fake (the bridge is stopped: no background work left).
port=$(free_port)
"$BASELINE" --bind "127.0.0.1:$port" --stripe-api-base "$FAKE_URL" --network-id $NETWORK \
    >"$WORK/baseline.out" 2>"$WORK/baseline.log" &
BASELINE_PID=$!
PIDS+=("$BASELINE_PID")
first_line "$WORK/baseline.out" mpp-baseline >/dev/null
COMMANDS+=("mpp-baseline --bind 127.0.0.1:PORT --stripe-api-base http://127.0.0.1:FAKE_PORT --network-id $NETWORK")
load mpp-baseline baseline "http://127.0.0.1:$port"
stop "$BASELINE_PID"

# The durable reference: the same server, its guard and settlements in a fresh SQLite file.
if [[ $DURABLE_BASELINE != 0 ]]; then
    port=$(free_port)
    "$BASELINE" --bind "127.0.0.1:$port" --stripe-api-base "$FAKE_URL" --network-id $NETWORK \
        --durable "$WORK/durable.sqlite" >"$WORK/durable.out" 2>"$WORK/durable.log" &
    DURABLE_PID=$!
    PIDS+=("$DURABLE_PID")
    first_line "$WORK/durable.out" "mpp-baseline --durable" >/dev/null
    COMMANDS+=("mpp-baseline --bind 127.0.0.1:PORT --stripe-api-base http://127.0.0.1:FAKE_PORT --network-id $NETWORK --durable <fresh temp file>")
    load mpp-baseline-durable baseline "http://127.0.0.1:$port"
    stop "$DURABLE_PID"
fi

stop "$FAKE_PID"
cat "$WORK/fake.log" >&2

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/payments.jsonl"
{
    echo "# Payments benchmark: omnibridge's MPP endpoint vs the \`mpp\` crate's own Stripe server"
    echo
    echo "Generated by \`bench/run-payments.sh\` (see [bench/README.md](../README.md#payments-benchmark));"
    echo "raw results in [\`payments.jsonl\`](payments.jsonl)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version); mpp $(cargo metadata --format-version 1 | jq -r '[.packages[] | select(.name == "mpp") | .version] | first')"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench tests/support 2>/dev/null || echo ' (with uncommitted changes)')"
    [[ $BRIDGE == "$TARGET/release/omnibridge" ]] || echo "- omnibridge binary: \`$(basename "$BRIDGE")\` (given as BRIDGE=, built elsewhere: see bench/README.md)"
    echo "- omnibridge: embedded defaults (SQLite store and bus, \`storage.durability = $DURABILITY\`), Stripe method only"
    echo "- load: $CONCURRENCY concurrent workers (closed loop, HTTP/1.1 keep-alive, loopback), per phase"
    echo "  ${WARMUP_SECS} s warm-up + ${SECS} s measured; the fake, the server and the load generator share the cores"
    echo
    echo "| server | challenges/s | p50 | p99 | confirmations/s | ratio | p50 | p99 | POST p50 | POST p99 | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -rs '(map(select(.label == "mpp-baseline"))[0].confirmations_per_s) as $ref | .[] | "| \(.label) | \(.challenges_per_s) | \(.challenge_p50_ms) ms | \(.challenge_p99_ms) ms | \(.confirmations_per_s)\(if .exhausted then " (intents ran out after \(.confirmation_window_secs) s)" else "" end) | \(if $ref then ((.confirmations_per_s / $ref * 100 | round) / 100 | tostring) + "x" else "" end) | \(.confirmation_p50_ms) ms | \(.confirmation_p99_ms) ms | \(.confirmation_post_p50_ms) ms | \(.confirmation_post_p99_ms) ms | \(.challenge_errors + .confirmation_errors) |"' "$JSONL"
    echo
    echo "A *challenge* is \`GET /pay/{id}\` → \`402\` with a parsed \`stripe\` challenge. A *confirmation*"
    echo "is a fresh challenge plus \`POST /pay/{id}\` with a credential carrying a new magic SPT → \`200\`"
    echo "with a success \`Payment-Receipt\` (one PaymentIntent created at the fake); its p50/p99 cover"
    echo "both requests, *POST* the POST alone. omnibridge's confirmations each pay their own intent,"
    echo "created through \`POST /v1/payment-intents\` before timing (setup not measured). *ratio* is"
    echo "confirmations/s over mpp-baseline's (the reference: single-use guard in memory);"
    echo "*mpp-baseline-durable* keeps its guard and settlements in SQLite (WAL, \`synchronous = FULL\`):"
    echo "the challenge consumed in a commit before the charge, the settlement in a second before the 200."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-payments.sh   # SECS=$SECS WARMUP_SECS=$WARMUP_SECS CONCURRENCY=$CONCURRENCY INTENTS=$INTENTS CONVERSATIONS=$CONVERSATIONS DURABILITY=$DURABILITY"
    echo "# which ran:"
    for c in "${BUILD_CMDS[@]}"; do echo "$c"; done
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/payments.md"
echo "wrote $RESULTS_DIR/payments.md and payments.jsonl" >&2
cat "$RESULTS_DIR/payments.md"
