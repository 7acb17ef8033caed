#!/usr/bin/env bash
# Where an ingest commit's WAL pages go: a release bridge on its embedded defaults (SQLite bus,
# durability = full) under whatsapp-load, a snapshot of its WAL taken while the load runs, and
# each WAL frame's page mapped to its table or index (SQLite's `dbstat`). Prints frames per
# commit by table: what each group commit writes and fsyncs. Needs the sqlite3 CLI (Debian:
# sqlite3) and jq.
#
# Usage: bench/wal-pages.sh                 # paced: 2,000 webhooks/s of 1.4 KB (the latency goal)
#        MODE=closed bench/wal-pages.sh     # closed loop, 32 connections (the throughput goal)
#        BRIDGE=<omnibridge binary> ...     # skips the bridge's build
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
MODE=${MODE:-paced}
KEY=bench-key-0123456789abcdef
SECRET=bench-app-secret-0123456789
PN=106540352242922
command -v sqlite3 >/dev/null || { echo "bench/wal-pages.sh needs the sqlite3 CLI" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench/wal-pages.sh needs jq" >&2; exit 1; }

. "$REPO/bench/lib.sh"
build_release_binaries
bench_setup omnibridge-wal-pages
whatsapp_bench_config "$WORK/bench.toml" "$PN"

port=$(free_port)
data="$WORK/data"
mkdir -p "$data"
OMNIBRIDGE_API_KEYS=$KEY OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
OMNIBRIDGE__STORAGE__BUS=sqlite OMNIBRIDGE__STORAGE__DURABILITY=full \
BENCH_WA_ACCESS_TOKEN=unused BENCH_WA_APP_SECRET=$SECRET BENCH_WA_VERIFY_TOKEN=unused RUST_LOG=warn \
    "$BRIDGE" --config "$WORK/bench.toml" serve --bind "127.0.0.1:$port" --data-dir "$data" \
    >"$WORK/bridge.log" 2>&1 &
BRIDGE_PID=$!
PIDS+=("$BRIDGE_PID")
wait_for "http://127.0.0.1:$port/readyz" omnibridge

if [[ $MODE == closed ]]; then
    LOAD_ARGS=(--connections 32)
else
    LOAD_ARGS=(--rate 2000 --body-bytes 1400)
fi
BENCH_WA_APP_SECRET=$SECRET "$LOAD" load --url "http://127.0.0.1:$port/webhooks/bench-wa" \
    "${LOAD_ARGS[@]}" --secs 3 --warmup-secs 1 >"$WORK/load.out" 2>/dev/null &
LOAD_PID=$!
sleep 3
cp "$data"/*.sqlite-wal "$WORK/snapshot.wal"
wait "$LOAD_PID"
stop "$BRIDGE_PID"
sqlite3 "$(ls "$data"/*.sqlite | head -n1)" "SELECT pageno, name FROM dbstat" >"$WORK/pages.txt"

echo "# bench/wal-pages.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), MODE=$MODE"
echo "# load: $(grep '^{' "$WORK/load.out" | jq -c '{req_per_s, p50_ms, p99_ms}')"
python3 - "$WORK/snapshot.wal" "$WORK/pages.txt" <<'PY'
import collections, struct, sys
wal, pages = sys.argv[1], sys.argv[2]
owner = {}
for line in open(pages):
    page, name = line.rstrip("\n").split("|", 1)
    owner[int(page)] = name
data = open(wal, "rb").read()
page_size = struct.unpack(">I", data[8:12])[0]
salts = data[16:24]
frames, commits, offset = [], 0, 32
while offset + 24 + page_size <= len(data):
    page, commit_size = struct.unpack(">II", data[offset:offset + 8])
    if data[offset + 8:offset + 16] != salts:
        break  # frames of an earlier generation of the WAL
    frames.append(page)
    commits += commit_size != 0
    offset += 24 + page_size
counts = collections.Counter(owner.get(page, "(pointer map / freelist)") for page in frames)
print(f"frames {len(frames)}, commits {commits}, frames per commit {len(frames) / max(commits, 1):.1f}")
for name, count in counts.most_common():
    print(f"{count / max(commits, 1):6.1f} per commit  {name}")
PY
