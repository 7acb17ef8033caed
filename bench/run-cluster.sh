#!/usr/bin/env bash
# Scale-out benchmark: signed WhatsApp webhooks per second into 1, 2 and 3 bridge instances
# sharing PostgreSQL state and a Redis Streams bus (AOF everysec) behind HAProxy, each started
# by scripts/cluster, as ratios to one instance on the embedded default (SQLite state and bus,
# durability full, no balancer), measured in the same run, in rounds that interleave the
# setups. Writes bench/results/cluster-ingest.{md,jsonl}.
#
# Usage: bench/run-cluster.sh   (from anywhere inside the repository)
# Knobs (env): SECS=10 WARMUP_SECS=2 CONNECTIONS=64 ROUNDS=2 INSTANCES="1 2 3"
#              POSTGRES_ADMIN=postgres://postgres@127.0.0.1:5432 (a fresh database per run)
#              RESULTS_DIR=bench/results
#              BRIDGE=<omnibridge binary> LOAD=<whatsapp-load binary> (both: skip the build;
#              the results name them)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
INSTANCES=${INSTANCES:-1 2 3}
POSTGRES_ADMIN=${POSTGRES_ADMIN:-postgres://postgres@127.0.0.1:5432}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef
SECRET=bench-app-secret-0123456789
PN=106540352242922

for tool in jq psql haproxy redis-server; do
    command -v "$tool" >/dev/null || [[ $tool == haproxy && -x /usr/sbin/haproxy ]] ||
        { echo "bench/run-cluster.sh needs $tool (scripts/install-test-deps)" >&2; exit 1; }
done

. "$REPO/bench/lib.sh"
if [[ -n ${BRIDGE:-} && -n ${LOAD:-} ]]; then
    BUILD_CMD="(prebuilt: BRIDGE=$BRIDGE LOAD=$LOAD)"
else
    build_release_binaries
fi
bench_setup omnibridge-cluster-bench
whatsapp_bench_config "$WORK/bench.toml" "$PN"
# The clusters started below are stopped on exit too.
trap 'for d in "$WORK"/cluster-*; do [[ -d $d ]] && CLUSTER_DIR=$d "$REPO/scripts/cluster" stop >/dev/null 2>&1; done; bench_cleanup' EXIT

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()
LOAD_ARGS=(--connections "$CONNECTIONS" --secs "$SECS" --warmup-secs "$WARMUP_SECS")

# measure ROUND SETUP INSTANCES URL
measure() {
    echo "== round $1: $2" >&2
    BENCH_WA_APP_SECRET=$SECRET "$LOAD" load --url "$4" "${LOAD_ARGS[@]}" --label "$2" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" |
        jq -c --arg setup "$2" --argjson round "$1" --argjson instances "$3" \
            '. + {setup: $setup, round: $round, instances: $instances}' >>"$JSONL"
}

# The baseline: one instance on the embedded defaults, fresh data dir, no balancer.
run_sqlite() {
    local port data
    port=$(free_port)
    data="$WORK/data-sqlite-$1"
    mkdir -p "$data"
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__DURABILITY=full \
    BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused \
    RUST_LOG=warn \
        "$BRIDGE" --config "$WORK/bench.toml" serve --bind "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/bridge-sqlite-$1.log" 2>&1 &
    local bridge=$!
    PIDS+=("$bridge")
    wait_for "http://127.0.0.1:$port/readyz" "omnibridge (sqlite)"
    measure "$1" sqlite 1 "http://127.0.0.1:$port/webhooks/bench-wa"
    stop "$bridge"
}

# N instances on a fresh PostgreSQL database and a fresh Redis (AOF everysec), behind HAProxy,
# started by scripts/cluster.
run_cluster() {
    local round=$1 n=$2 db="omnibridge_bench_$$_$1_$2" dir="$WORK/cluster-$1-$2" first
    psql "$POSTGRES_ADMIN/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    while :; do # n consecutive free ports
        first=$(free_port)
        local i ok=1
        for ((i = 1; i < n; i++)); do
            (exec 3<>"/dev/tcp/127.0.0.1/$((first + i))") 2>/dev/null && ok=0
        done
        [[ $ok == 1 ]] && break
    done
    local port stats
    port=$(free_port)
    stats=$(free_port)
    CLUSTER_DIR=$dir CLUSTER_INSTANCES=$n CLUSTER_PORT=$port CLUSTER_STATS_PORT=$stats \
    CLUSTER_FIRST_PORT=$first CLUSTER_POSTGRES_URL="$POSTGRES_ADMIN/$db" CLUSTER_MEDIA=local \
    CLUSTER_CONFIG="$WORK/bench.toml" OMNIBRIDGE_BIN=$BRIDGE OMNIBRIDGE_API_KEYS=$KEY \
    BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused \
    RUST_LOG=warn \
        "$REPO/scripts/cluster" start -d >"$WORK/cluster-$round-$n.out" 2>&1 ||
        { cat "$WORK/cluster-$round-$n.out" >&2; exit 1; }
    measure "$round" "postgres+redis x$n" "$n" "http://127.0.0.1:$port/webhooks/bench-wa"
    CLUSTER_DIR=$dir "$REPO/scripts/cluster" stop >/dev/null 2>&1
    if grep -qiE ' (ERROR|WARN) .*|panicked' "$dir"/logs/[a-i].log; then
        echo "warnings from the instances (x$n):" >&2
        grep -hiE ' (ERROR|WARN) |panicked' "$dir"/logs/[a-i].log | tail -5 >&2
    fi
    psql "$POSTGRES_ADMIN/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

for ((round = 1; round <= ROUNDS; round++)); do
    run_sqlite "$round"
    for n in $INSTANCES; do
        run_cluster "$round" "$n"
    done
done
COMMANDS+=("OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__STORAGE__DURABILITY=full BENCH_WA_*=<secrets> RUST_LOG=warn omnibridge --config <[[channels]] bench-wa> serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>   # sqlite")
COMMANDS+=("CLUSTER_INSTANCES=N CLUSTER_POSTGRES_URL=<fresh database> CLUSTER_MEDIA=local CLUSTER_CONFIG=<[[channels]] bench-wa> OMNIBRIDGE_BIN=<omnibridge> RUST_LOG=warn scripts/cluster start -d   # postgres+redis xN: redis-server --appendonly yes --appendfsync everysec, HAProxy scripts/cluster.haproxy.cfg")
COMMANDS+=("BENCH_WA_APP_SECRET=<secret> whatsapp-load load --url http://127.0.0.1:PORT/webhooks/bench-wa ${LOAD_ARGS[*]} --label <setup>")

# Per setup: the median over rounds, and its ratio to the SQLite baseline's median.
jq -s '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  (map(select(.setup == "sqlite") | .req_per_s) | median) as $base
  | group_by(.setup) | map({
      setup: .[0].setup, instances: .[0].instances,
      req_per_s: (map(.req_per_s) | median | round),
      per_round: map(.req_per_s | round),
      p50_ms: (map(.p50_ms) | median * 10 | round / 10), p99_ms: (map(.p99_ms) | median * 10 | round / 10),
      errors: (map(.errors) | add),
      ratio_to_sqlite: ((map(.req_per_s) | median) / $base * 100 | round / 100)})
  | sort_by(if .setup == "sqlite" then 0 else .instances end)' "$JSONL" >"$WORK/summary.json"

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/cluster-ingest.jsonl"
{
    echo "# Scale-out benchmark: WhatsApp ingest with 1, 2, 3 instances"
    echo
    echo "Generated by \`bench/run-cluster.sh\` (see [bench/README.md](../README.md)); raw results in"
    echo "[\`cluster-ingest.jsonl\`](cluster-ingest.jsonl)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version), $(redis-server --version | cut -d' ' -f1-3), $(psql --version), $(${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)} -v | head -n1 | cut -d' ' -f1-3)"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench scripts 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- load: $CONNECTIONS keep-alive connections, closed loop, signed one-message text webhooks"
    echo "  ($(jq -s '.[0].body_bytes' "$JSONL") bytes, a fresh wamid each), ${WARMUP_SECS} s warm-up + ${SECS} s measured,"
    echo "  $ROUNDS round(s), each running every setup in turn on fresh storage; the median per setup."
    echo "  Everything (load generator, HAProxy, instances, PostgreSQL, Redis) shares the same cores."
    echo
    echo "| setup | instances | webhooks/s (200), median | per round | ratio to sqlite | p50 | p99 | errors |"
    echo "|---|---:|---:|---|---:|---:|---:|---:|"
    jq -r '.[] | "| \(.setup) | \(.instances) | \(.req_per_s) | \(.per_round | map(tostring) | join(", ")) | \(.ratio_to_sqlite) | \(.p50_ms) ms | \(.p99_ms) ms | \(.errors) |"' "$WORK/summary.json"
    echo
    echo "*sqlite*: one instance on the embedded defaults (SQLite state and bus, \`durability = full\`),"
    echo "reached directly. *postgres+redis xN*: N instances started by \`scripts/cluster\` (state in"
    echo "PostgreSQL, bus on Redis Streams with AOF everysec, HAProxy round robin in front), the load"
    echo "sent to HAProxy. Every setup answers 200 only after the durable append."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-cluster.sh   # SECS=$SECS WARMUP_SECS=$WARMUP_SECS CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS INSTANCES=\"$INSTANCES\""
    echo "# which ran:"
    echo "$BUILD_CMD"
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/cluster-ingest.md"
echo "wrote $RESULTS_DIR/cluster-ingest.md and cluster-ingest.jsonl" >&2
cat "$RESULTS_DIR/cluster-ingest.md"
