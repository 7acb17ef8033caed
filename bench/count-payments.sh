#!/usr/bin/env bash
# Instructions per confirmation (`POST /pay/{id}`, Stripe method) on the bridge's SQLite writer
# thread and in the whole bridge, counted by callgrind: a measure that does not depend on what
# else runs on the machine (wall-clock runs of bench/run-payments.sh do).
#
# The bridge runs under `valgrind --tool=callgrind --separate-threads=yes` on its embedded
# defaults against the zero-latency Stripe fake, `pay-load` as in bench/run-payments.sh with
# few intents. The counters are zeroed when the confirmations phase starts and dumped once the
# phase is over *and* the outbox has sent every receipt (so each confirmation's whole work,
# the receipt's delivery included, is counted); the settlements counted by `/metrics` in
# between divide them. Under valgrind the threads run one at a time and about 50x slower, so
# group commits hold other numbers of jobs than on the real machine: compare builds with the
# same knobs only.
#
# Usage: bench/count-payments.sh        Knobs (env): INTENTS=1500 SECS=20 CONCURRENCY=32
#        CONVERSATIONS=8 DURABILITY=full BRIDGE=<omnibridge binary> (skips its build)
#        OUT=<file> (appends one JSON line; default: only printed)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SECS=${SECS:-20}
CONCURRENCY=${CONCURRENCY:-32}
INTENTS=${INTENTS:-1500}
CONVERSATIONS=${CONVERSATIONS:-8}
DURABILITY=${DURABILITY:-full}
KEY=bench-key-0123456789abcdef
NETWORK=profile_bench

command -v valgrind >/dev/null || { echo "bench/count-payments.sh needs valgrind" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench/count-payments.sh needs jq" >&2; exit 1; }

. "$REPO/bench/lib.sh"
build_pay_binaries
bench_setup omnibridge-pay-count

start_stripe_fake

# start_pay_bridge with the bridge under callgrind (its pid is valgrind's, which is the
# bridge's own: valgrind runs the program in its process).
REAL_BRIDGE=$BRIDGE
cat >"$WORK/bridge-under-callgrind" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --separate-threads=yes --dump-instr=no \
    --callgrind-out-file=$WORK/callgrind.out.%p "$REAL_BRIDGE" "\$@"
SH
chmod +x "$WORK/bridge-under-callgrind"
BRIDGE="$WORK/bridge-under-callgrind"
start_pay_bridge
BRIDGE=$REAL_BRIDGE

settled() { # settlements counted by the bridge so far
    curl -fs -H "authorization: Bearer $KEY" "http://127.0.0.1:$port/metrics" \
        | awk '/^omnibridge_payment_settlements_total\{/ && /outcome="succeeded"/ {s += $2} END {print s + 0}'
}
outbox_depth() {
    curl -fs -H "authorization: Bearer $KEY" "http://127.0.0.1:$port/metrics" \
        | awk '/^omnibridge_outbox_depth / {print $2}'
}

BENCH_API_KEY=$KEY "$LOAD" --url "http://127.0.0.1:$port" --server omnibridge \
    --concurrency "$CONCURRENCY" --secs "$SECS" --warmup-secs 0 \
    --intents "$INTENTS" --conversations "$CONVERSATIONS" --label callgrind \
    --request-timeout-secs 60 >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
until grep -q 'phase Confirmations starting' "$WORK/load.err"; do
    kill -0 "$LOAD_PID" 2>/dev/null || { cat "$WORK/load.err" >&2; exit 1; }
    sleep 0.2
done
callgrind_control -z "$BRIDGE_PID" >/dev/null
before=$(settled)
wait "$LOAD_PID" || true
for _ in $(seq 1 600); do
    [[ $(outbox_depth) == 0 ]] && break
    sleep 0.5
done
after=$(settled)
callgrind_control -d "$BRIDGE_PID" >/dev/null
sleep 2
# The dump's files, before the exit writes the (uncounted) rest.
mkdir -p "$WORK/dump"
cp "$WORK"/callgrind.out.* "$WORK/dump/"
stop "$BRIDGE_PID"
cat "$WORK/load.err" >&2

confirmations=$((after - before))
# One file per thread (…-<tid>), each with a "summary:"/"totals:" line of instructions; the
# writer thread is the one whose profile holds the writer loop.
total=0
writer=0
for f in "$WORK"/dump/callgrind.out.*; do
    n=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    [[ -n $n ]] || continue
    total=$((total + n))
    if grep -q 'fn=.*sqlite::writer::WriteJob' "$f"; then
        writer=$((writer + n))
    fi
done
[[ $confirmations -gt 0 ]] || { echo "no confirmation was counted" >&2; exit 1; }
line=$(jq -nc --arg bridge "$(basename "$REAL_BRIDGE")" --argjson c "$confirmations" \
    --argjson total "$total" --argjson writer "$writer" --arg durability "$DURABILITY" \
    --argjson concurrency "$CONCURRENCY" \
    '{bridge: $bridge, durability: $durability, concurrency: $concurrency, confirmations: $c,
      instructions_total: $total, instructions_writer: $writer,
      per_confirmation_total: ($total / $c | floor), per_confirmation_writer: ($writer / $c | floor)}')
echo "$line"
[[ -z ${OUT:-} ]] || echo "$line" >>"$OUT"
if [[ -n ${KEEP:-} ]]; then
    mkdir -p "$KEEP"
    cp "$WORK"/dump/callgrind.out.* "$KEEP"/
fi
