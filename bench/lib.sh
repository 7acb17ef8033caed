# Shared by the bench scripts (sourced, not run): a work dir whose processes are stopped on
# exit, free ports, waiting for a server, and a throwaway redis-server.

# bench_setup PREFIX: sets WORK (a temp dir) and PIDS (processes to stop on exit).
bench_setup() {
    WORK=$(mktemp -d -t "$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

free_port() {
    local port
    while :; do
        # Below Linux's ephemeral range (32768+), so a client's outgoing connection cannot
        # take the port between this check and the server's bind.
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

wait_for() { # url-or-port, what
    local i
    for i in $(seq 1 300); do
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

# start_redis NAME EXTRA_ARGS...: a redis-server on a free port in the work dir; sets REDIS_PID
# and REDIS_PORT, and records the command in COMMANDS.
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

# build_release_binaries: cargo build --release of the bridge and the bench crate; sets
# BUILD_CMD (the command, for results), TARGET (the cargo target dir), BRIDGE (omnibridge) and
# LOAD (whatsapp-load). With BRIDGE already set (another build of the bridge to measure), only
# the bench crate is built.
build_release_binaries() {
    if [[ -n ${BRIDGE:-} ]]; then
        BUILD_CMD="cargo build --release -p omnibridge-bench   # bridge: BRIDGE=$BRIDGE"
        echo "+ cargo build --release -p omnibridge-bench" >&2
        cargo build --release -p omnibridge-bench
    else
        BUILD_CMD="cargo build --release -p omnibridge -p omnibridge-bench"
        echo "+ $BUILD_CMD" >&2
        $BUILD_CMD
    fi
    TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    BRIDGE=${BRIDGE:-"$TARGET/release/omnibridge"}
    LOAD="$TARGET/release/whatsapp-load"
}

# build_pay_binaries: the payments tools' builds, as bench/run-payments.sh makes them: the
# bridge on its own (so the bench crate's `mpp` server features are not unified into it; skipped
# when BRIDGE names a binary), then stripe-fake and pay-load; sets TARGET, BRIDGE, FAKE, LOAD.
build_pay_binaries() {
    if [[ -z ${BRIDGE:-} ]]; then
        echo "+ cargo build --release -p omnibridge" >&2
        cargo build --release -p omnibridge
    fi
    echo "+ cargo build --release -p omnibridge-bench --bin stripe-fake --bin pay-load" >&2
    cargo build --release -p omnibridge-bench --bin stripe-fake --bin pay-load
    TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    BRIDGE=${BRIDGE:-$TARGET/release/omnibridge}
    FAKE="$TARGET/release/stripe-fake"
    LOAD="$TARGET/release/pay-load"
}

# start_stripe_fake: $FAKE in the background (stopped on exit); sets FAKE_URL, the base URL it
# prints first.
start_stripe_fake() {
    "$FAKE" >"$WORK/fake.out" 2>"$WORK/fake.log" &
    PIDS+=("$!")
    for _ in $(seq 1 300); do [[ -s $WORK/fake.out ]] && break; sleep 0.1; done
    FAKE_URL=$(head -n1 "$WORK/fake.out")
    [[ -n $FAKE_URL ]] || { echo "stripe-fake did not print its URL" >&2; exit 1; }
}

# start_minimal NAME SHOWN [serve args...]: `whatsapp-load serve` (the minimal server; with
# `--durable FILE` the minimal correct one) on a free port with the benchmarks' app secret
# ($SECRET); sets `port` and MINIMAL, and records the command for the results, SHOWN standing
# for the extra arguments there.
start_minimal() {
    local name=$1 shown=$2
    shift 2
    port=$(free_port)
    BENCH_WA_APP_SECRET=$SECRET "$LOAD" serve --bind "127.0.0.1:$port" "$@" >"$WORK/$name.log" 2>&1 &
    MINIMAL=$!
    PIDS+=("$MINIMAL")
    wait_for "$port" "$name server"
    COMMANDS+=("BENCH_WA_APP_SECRET=<secret> whatsapp-load serve --bind 127.0.0.1:PORT${shown:+ $shown}")
}

# whatsapp_bench_config FILE PHONE_NUMBER_ID: the benchmarks' [[channels]] table for WhatsApp
# (secrets from BENCH_WA_*; the Graph API is never called).
whatsapp_bench_config() {
    cat >"$1" <<TOML
[[channels]]
id = "bench-wa"
type = "whatsapp"
phone_number_id = "$2"
access_token_env = "BENCH_WA_ACCESS_TOKEN"
app_secret_env = "BENCH_WA_APP_SECRET"
verify_token_env = "BENCH_WA_VERIFY_TOKEN"
api_base = "http://127.0.0.1:9"
TOML
}

# start_pay_bridge: the payments benchmarks' bridge: $BRIDGE on the embedded defaults (fresh
# $WORK/data, durability $DURABILITY), Stripe only (sandbox off) against the fake at $FAKE_URL
# (network $NETWORK), API key $KEY, RUST_LOG=warn; sets `port` and BRIDGE_PID, waits for readyz.
start_pay_bridge() {
    port=$(free_port)
    mkdir -p "$WORK/data"
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__DURABILITY=$DURABILITY \
    OMNIBRIDGE__PAYMENTS__SANDBOX=false \
    OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED=true \
    OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE="$FAKE_URL" \
    OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID=$NETWORK \
    OMNIBRIDGE_STRIPE_SECRET_KEY=sk_test_fake \
    OMNIBRIDGE_STRIPE_WEBHOOK_SECRET=whsec_fake \
    RUST_LOG=warn \
        "$BRIDGE" serve --bind "127.0.0.1:$port" --data-dir "$WORK/data" >"$WORK/bridge.log" 2>&1 &
    BRIDGE_PID=$!
    PIDS+=("$BRIDGE_PID")
    wait_for "http://127.0.0.1:$port/readyz" omnibridge
}
