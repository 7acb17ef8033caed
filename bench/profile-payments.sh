#!/usr/bin/env bash
# Where the bridge spends its CPU on the MPP confirmation path (`POST /pay/{id}`, Stripe method):
# a release bridge on its embedded defaults (SQLite store and bus, `durability = $DURABILITY`)
# against the zero-latency Stripe fake, `pay-load` as in bench/run-payments.sh, and
# `perf record` (Debian's linux-perf) on the bridge during the confirmations phase only
# (warm-up + window). Writes the flat profile (self time by function, top ROWS) and the
# callers' view of the hottest paths to bench/results/profile-payments.txt.
#
# Usage: bench/profile-payments.sh   Knobs (env): SECS=10 WARMUP_SECS=2 CONCURRENCY=32
#        INTENTS=16000 CONVERSATIONS=8 DURABILITY=full ROWS=45 FREQ=499 OUT=<file>
#        BRIDGE=<omnibridge binary> (skips its build)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONCURRENCY=${CONCURRENCY:-32}
INTENTS=${INTENTS:-16000}
CONVERSATIONS=${CONVERSATIONS:-8}
DURABILITY=${DURABILITY:-full}
ROWS=${ROWS:-45}
FREQ=${FREQ:-499}
OUT=${OUT:-$REPO/bench/results/profile-payments.txt}
KEY=bench-key-0123456789abcdef
NETWORK=profile_bench

command -v perf >/dev/null || { echo "bench/profile-payments.sh needs perf (Debian: linux-perf)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench/profile-payments.sh needs jq" >&2; exit 1; }

. "$REPO/bench/lib.sh"
# As bench/run-payments.sh: the bridge's own build, then the bench binaries.
# BRIDGE=/path/to/omnibridge profiles that binary instead (no build of the bridge).
build_pay_binaries
bench_setup omnibridge-pay-profile

start_stripe_fake

start_pay_bridge

BENCH_API_KEY=$KEY "$LOAD" --url "http://127.0.0.1:$port" --server omnibridge \
    --concurrency "$CONCURRENCY" --secs "$SECS" --warmup-secs "$WARMUP_SECS" \
    --intents "$INTENTS" --conversations "$CONVERSATIONS" --label omnibridge \
    >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
# Attach perf when the confirmations phase starts (setup and challenges are not profiled).
until grep -q 'phase Confirmations starting' "$WORK/load.err"; do
    kill -0 "$LOAD_PID" 2>/dev/null || { cat "$WORK/load.err" >&2; exit 1; }
    sleep 0.1
done
perf record -F "$FREQ" -g -p "$BRIDGE_PID" -o "$WORK/perf.data" \
    -- sleep "$(echo "$SECS + $WARMUP_SECS" | bc)" 2>"$WORK/perf.log"
wait "$LOAD_PID"
cat "$WORK/load.err" "$WORK/load.out" >&2
stop "$BRIDGE_PID"

perf_flat() { # sort-keys percent-limit
    perf report -i "$WORK/perf.data" --no-children --sort "$1" --stdio -g none --percent-limit "$2" 2>/dev/null \
        | grep -v '^#' | grep -v '^$'
}
{
    echo "# bench/profile-payments.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench 2>/dev/null || echo ' (with uncommitted changes)'), bridge binary $(basename "$BRIDGE")"
    echo "# durability=$DURABILITY, $CONCURRENCY workers, confirmations phase (${WARMUP_SECS} s warm-up + ${SECS} s window) profiled"
    echo "# load: $(grep '^{' "$WORK/load.out" | jq -c '{confirmations_per_s, confirmation_p50_ms, confirmation_p99_ms, confirmation_post_p50_ms, confirmation_post_p99_ms, confirmation_errors}')"
    echo "# samples by thread (perf report --sort comm):"
    perf_flat comm 1 | head -n 10
    echo "# by binary (perf report --no-children --sort dso):"
    perf_flat dso 1 | head -n 8
    echo "# perf record -F $FREQ -g -p <bridge> ; perf report --no-children --sort dso,sym (self time)"
    perf_flat dso,sym 0.4 | head -n "$ROWS"
    echo "# inclusive time of the confirmation path's steps (perf report --children, symbols matched):"
    perf report -i "$WORK/perf.data" --children --sort sym --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -E 'endpoint::handle|PaymentEngine::|begin_confirmation|Notifier::|Outbox::enqueue|Ingest::append|StripeMethod|settle|sqlite3_step|fdatasync|fsync|commit_batch|run_loop|render' \
        | head -n 30
} >"$OUT"
cat "$OUT"
