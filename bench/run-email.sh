#!/usr/bin/env bash
# Email ingest benchmark, in one run:
#  (i)  IMAP backfill: MAILS mails delivered to a private Dovecot while the bridge is down, then
#       the bridge (SQLite bus) started with an email channel following that mailbox; mails/s
#       until all of them are on the bus (IMAP_RUNS times, each with a fresh mailbox and data dir);
#  (ii) raw-MIME webhook: signed mails posted to a bridge whose email channel has only the
#       webhook, closed loop, for SECS: accepted mails/s and latency.
# Writes bench/results/email-ingest.{md,jsonl}.
#
# Usage: bench/run-email.sh   (from anywhere inside the repository; needs root for Dovecot)
# Knobs (env): MAILS=1000 IMAP_RUNS=3 IMAP_THREAD_LEN=1 SECS=10 WARMUP_SECS=2 CONNECTIONS=32
#              DURABILITY=full (or normal: no fsync per commit)
#              RESULTS_DIR=bench/results
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
MAILS=${MAILS:-1000}
IMAP_RUNS=${IMAP_RUNS:-3}
IMAP_THREAD_LEN=${IMAP_THREAD_LEN:-1}
SECS=${SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURABILITY=${DURABILITY:-full}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KEY=bench-key-0123456789abcdef
WEBHOOK_SECRET=bench-mail-webhook-secret-0123
IMAP_USER=support
IMAP_PASSWORD=bench-imap-password
DOVECOT=/usr/sbin/dovecot

command -v jq >/dev/null || { echo "bench/run-email.sh needs jq" >&2; exit 1; }
[[ -x $DOVECOT ]] || { echo "bench/run-email.sh needs $DOVECOT (Debian: dovecot-imapd)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "bench/run-email.sh needs root (Dovecot drops privileges itself)" >&2; exit 1; }

BUILD_CMD="cargo build --release -p omnibridge -p omnibridge-bench"
echo "+ $BUILD_CMD" >&2
$BUILD_CMD
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BRIDGE="$TARGET/release/omnibridge"
LOAD="$TARGET/release/email-load"

. "$REPO/bench/lib.sh"
bench_setup omnibridge-email-bench
# Dovecot's unprivileged processes (mail, dovenull, dovecot) must traverse the work dir.
chmod 755 "$WORK"
DOVECOT_PID=
stop_dovecot() { # its whole process group: the master leaves imap sessions behind
    [[ -n $DOVECOT_PID ]] || return 0
    kill -TERM -- "-$DOVECOT_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$DOVECOT_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$DOVECOT_PID" 2>/dev/null || true
    wait "$DOVECOT_PID" 2>/dev/null || true
    DOVECOT_PID=
}
trap 'stop_dovecot; bench_cleanup' EXIT

JSONL="$WORK/results.jsonl"
: >"$JSONL"
COMMANDS=()

# start_dovecot NAME: a private Dovecot (config as in adapters/email/tests/support/dovecot.rs:
# passwd-file user, Maildir owned by `mail`, no chroot for imap-login/anvil, ssl = no) on a
# free port; sets DOVECOT_PID, DOVECOT_PORT, DOVECOT_CONF.
start_dovecot() {
    local root="$WORK/dovecot-$1" uid gid
    uid=$(id -u mail)
    gid=$(id -g mail)
    mkdir -p "$root/run" "$root/state" "$root/Maildir" "$root/home"
    chmod 755 "$root"
    chown mail:mail "$root/Maildir" "$root/home"
    printf '%s:{PLAIN}%s::::::\n' "$IMAP_USER" "$IMAP_PASSWORD" >"$root/passwd"
    chmod 644 "$root/passwd"
    DOVECOT_PORT=$(free_port)
    DOVECOT_CONF="$root/dovecot.conf"
    cat >"$DOVECOT_CONF" <<CONF
# Private benchmark instance (bench/run-email.sh).
protocols = imap
listen = 127.0.0.1
instance_name = omnibridge-bench-$DOVECOT_PORT
base_dir = $root/run
state_dir = $root/state
log_path = $root/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:$root/Maildir
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN $root/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$root/home
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
namespace inbox {
  inbox = yes
  separator = /
}
CONF
    # Its own session/process group, so stop_dovecot can end the imap processes too.
    setsid "$DOVECOT" -F -c "$DOVECOT_CONF" </dev/null >"$root/stderr.log" 2>&1 &
    DOVECOT_PID=$!
    wait_for "$DOVECOT_PORT" "dovecot ($1)"
}

# start_bridge NAME CONFIG: a fresh bridge (SQLite bus, durability=$DURABILITY, fresh data dir) on a
# free port; sets BRIDGE_PID and BRIDGE_PORT. Does not wait for it.
start_bridge() {
    local name=$1 config=$2 data="$WORK/data-$1"
    mkdir -p "$data"
    BRIDGE_PORT=$(free_port)
    OMNIBRIDGE_API_KEYS=$KEY \
    OMNIBRIDGE__TEMPLATES__DIR="$REPO/templates" \
    OMNIBRIDGE__STORAGE__BUS=sqlite \
    OMNIBRIDGE__STORAGE__DURABILITY=$DURABILITY \
    BENCH_IMAP_PASSWORD=$IMAP_PASSWORD BENCH_MAIL_WEBHOOK_SECRET=$WEBHOOK_SECRET \
    RUST_LOG=warn \
        "$BRIDGE" --config "$config" serve --bind "127.0.0.1:$BRIDGE_PORT" --data-dir "$data" \
        >"$WORK/bridge-$name.log" 2>&1 &
    BRIDGE_PID=$!
    PIDS+=("$BRIDGE_PID")
}

check_log() { # name
    if grep -qiE 'error|panic' "$WORK/bridge-$1.log"; then
        echo "warnings from the bridge ($1):" >&2
        grep -iE 'error|panic' "$WORK/bridge-$1.log" | tail -5 >&2
    fi
}

BRIDGE_CMD="OMNIBRIDGE_API_KEYS=<key> OMNIBRIDGE__STORAGE__BUS=sqlite OMNIBRIDGE__STORAGE__DURABILITY=$DURABILITY BENCH_IMAP_PASSWORD=<secret> BENCH_MAIL_WEBHOOK_SECRET=<secret> RUST_LOG=warn omnibridge --config <CONFIG> serve --bind 127.0.0.1:PORT --data-dir <fresh temp dir>"

# (i) IMAP backfill.
COMMANDS+=("# (i) IMAP backfill, $IMAP_RUNS run(s), each with a fresh mailbox and data dir:")
COMMANDS+=("setsid /usr/sbin/dovecot -F -c <temp dir>/dovecot.conf   # config written by bench/run-email.sh")
COMMANDS+=("BENCH_IMAP_PASSWORD=<secret> email-load imap-append --port DOVECOT_PORT --user $IMAP_USER --mails $MAILS --thread-len $IMAP_THREAD_LEN")
COMMANDS+=("${BRIDGE_CMD/<CONFIG>/<[[channels]] email with [channels.imap] at DOVECOT_PORT>}")
COMMANDS+=("BENCH_API_KEY=<key> email-load imap-wait --url http://127.0.0.1:PORT --expected $MAILS --since-ms <ms before the bridge was started> --label imap-backfill-N")
for run in $(seq 1 "$IMAP_RUNS"); do
    name=imap-$run
    echo "== $name: $MAILS mails into Dovecot, then the bridge" >&2
    start_dovecot "$name"
    BENCH_IMAP_PASSWORD=$IMAP_PASSWORD "$LOAD" imap-append --port "$DOVECOT_PORT" --user "$IMAP_USER" \
        --mails "$MAILS" --thread-len "$IMAP_THREAD_LEN" | tee "$WORK/append-$run.json" >&2
    cat >"$WORK/imap.toml" <<TOML
[[channels]]
id = "bench-mail"
type = "email"
address = "support@acme.test"
imap_password_env = "BENCH_IMAP_PASSWORD"

[channels.imap]
host = "127.0.0.1"
port = $DOVECOT_PORT
tls = "none"
username = "$IMAP_USER"

[channels.smtp]
host = "127.0.0.1"
port = 9
tls = "none"

[channels.sender_check]
mode = "none"
TOML
    since=$(date +%s%3N)
    start_bridge "$name" "$WORK/imap.toml"
    BENCH_API_KEY=$KEY "$LOAD" imap-wait --url "http://127.0.0.1:$BRIDGE_PORT" --expected "$MAILS" \
        --since-ms "$since" --label "imap-backfill-$run" | tee "$WORK/out" >&2
    grep '^{' "$WORK/out" | jq -c --slurpfile append "$WORK/append-$run.json" \
        '. + {backend: "sqlite", thread_len: $append[0].thread_len, avg_mail_bytes: $append[0].avg_mail_bytes}' >>"$JSONL"
    check_log "$name"
    stop "$BRIDGE_PID"
    stop_dovecot
done

# (ii) Raw-MIME webhook.
cat >"$WORK/webhook.toml" <<TOML
[[channels]]
id = "bench-mail"
type = "email"
address = "support@acme.test"
webhook_secret_env = "BENCH_MAIL_WEBHOOK_SECRET"

[channels.smtp]
host = "127.0.0.1"
port = 9
tls = "none"

[channels.sender_check]
mode = "none"
TOML
COMMANDS+=("# (ii) raw-MIME webhook, a fresh bridge per variant:")
COMMANDS+=("${BRIDGE_CMD/<CONFIG>/<[[channels]] email with webhook_secret_env, no IMAP>}")
LOAD_ARGS=(--connections "$CONNECTIONS" --secs "$SECS" --warmup-secs "$WARMUP_SECS")
# webhook_variant NAME EXTRA_ARGS...
webhook_variant() {
    local name=$1
    shift
    echo "== $name" >&2
    start_bridge "$name" "$WORK/webhook.toml"
    wait_for "http://127.0.0.1:$BRIDGE_PORT/readyz" "omnibridge ($name)"
    BENCH_MAIL_WEBHOOK_SECRET=$WEBHOOK_SECRET "$LOAD" webhook \
        --url "http://127.0.0.1:$BRIDGE_PORT/webhooks/bench-mail" "${LOAD_ARGS[@]}" "$@" --label "$name" \
        | tee "$WORK/out" >&2
    # Sanity check: every email event the bridge appended (warm-up and drain included).
    local on_bus
    on_bus=$(curl -fs "http://127.0.0.1:$BRIDGE_PORT/metrics" \
        | awk '/^omnibridge_events_in_total\{channel="email"\}/ {print $2}')
    grep '^{' "$WORK/out" | jq -c --arg on_bus "${on_bus:-0}" \
        '. + {backend: "sqlite", events_on_bus: ($on_bus | tonumber)}' >>"$JSONL"
    COMMANDS+=("BENCH_MAIL_WEBHOOK_SECRET=<secret> email-load webhook --url http://127.0.0.1:PORT/webhooks/bench-mail ${LOAD_ARGS[*]} $* --label $name")
    check_log "$name"
    stop "$BRIDGE_PID"
}
webhook_variant webhook-text --thread-len 1
webhook_variant webhook-html-threads --thread-len 10 --html

mkdir -p "$RESULTS_DIR"
cp "$JSONL" "$RESULTS_DIR/email-ingest.jsonl"
{
    echo "# Email ingest benchmark"
    echo
    echo "Generated by \`bench/run-email.sh\` (see [bench/README.md](../README.md)); raw results in"
    echo "[\`email-ingest.jsonl\`](email-ingest.jsonl)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- $(rustc --version), $("$DOVECOT" --version | sed 's/^/Dovecot /')"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src adapters bench ':!bench/results' 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- bridge: SQLite store and bus, \`durability=$DURABILITY\`$( [[ $DURABILITY == full ]] && echo " (synchronous=FULL, fsync per group commit)"),"
    echo "  fresh data dir per run, \`RUST_LOG=warn\`; the load generator and Dovecot run on the same cores"
    echo
    echo "## IMAP backfill"
    echo
    echo "$MAILS mails (~$(jq -s '[.[] | select(.mode == "imap-wait")][0].avg_mail_bytes' "$JSONL") bytes, \`text/plain\`, threads of"
    echo "$IMAP_THREAD_LEN mail(s): $( [[ $IMAP_THREAD_LEN == 1 ]] && echo "every mail starts its own conversation" || echo "replies carry In-Reply-To/References")) appended to INBOX of a private Dovecot"
    echo "while the bridge is down; then the bridge is started and the clock runs from just before its"
    echo "start until \`/metrics\` counts $MAILS email events appended (polled every 10 ms), so"
    echo "*elapsed* includes the bridge's start-up and IMAP login. *first→last* is the span between the"
    echo "first and the last mail's \`received_at\` on the bus. The bus is then read back through the API:"
    echo "distinct Message-IDs and duplicates."
    echo
    echo "| run | mails on bus | duplicates | conversations | elapsed | mails/s | first mail after | first→last | mails/s first→last |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r 'select(.mode == "imap-wait") | "| \(.label) | \(.unique_message_ids) | \(.duplicates) | \(.conversations) | \(.elapsed_s) s | \(.mails_per_s) | \(.first_received_after_s) s | \(.first_to_last_s) s | \(.mails_per_s_first_to_last) |"' "$JSONL"
    echo
    echo "## Raw-MIME webhook"
    echo
    echo "$CONNECTIONS keep-alive connections, closed loop, ${WARMUP_SECS} s warm-up + ${SECS} s measured; each request"
    echo "a distinct signed mail (HMAC-SHA256 over \`<ts>.\` + body), answered 200 after the durable append."
    echo
    echo "| variant | mail | threads | mails/s (200) | p50 | p90 | p99 | max | errors | 200s in window / email events on bus |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    jq -r 'select(.mode == "webhook") | "| \(.label) | \(.body_bytes) B, \(if .html then "text + HTML alternative" else "text/plain" end) | \(if .thread_len == 1 then "one per mail" else "\(.thread_len) mails each" end) | \(.mails_per_s) | \(.p50_ms) ms | \(.p90_ms) ms | \(.p99_ms) ms | \(.max_ms) ms | \(.errors) | \(.requests_ok) / \(.events_on_bus) |"' "$JSONL"
    echo
    echo "The bus count (from \`/metrics\`) includes the warm-up and the requests answered after the window."
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/run-email.sh   # MAILS=$MAILS IMAP_RUNS=$IMAP_RUNS IMAP_THREAD_LEN=$IMAP_THREAD_LEN SECS=$SECS WARMUP_SECS=$WARMUP_SECS CONNECTIONS=$CONNECTIONS DURABILITY=$DURABILITY"
    echo "# which ran:"
    echo "$BUILD_CMD"
    for c in "${COMMANDS[@]}"; do echo "$c"; done
    echo '```'
} >"$RESULTS_DIR/email-ingest.md"
echo "wrote $RESULTS_DIR/email-ingest.md and email-ingest.jsonl" >&2
cat "$RESULTS_DIR/email-ingest.md"
