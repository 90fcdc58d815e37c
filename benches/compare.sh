#!/usr/bin/env bash
# tern against nats-server, side by side, on this machine.
#
# Starts both servers on loopback (random ports), measures their memory with idle
# connections and subscriptions, then runs every scenario on both in alternation
# (A B A B A B) for each payload size, and prints the median ratio tern/nats-server with
# its min-max over the rounds. The generated part of benches/RESULTS.md (between the
# compare.sh markers) is replaced; hand-written analysis around it is kept.
#
# The JetStream part (`tern bench js pub`, sync and async) runs both servers with -js and
# a fresh store directory each, and has its own generated block (compare.sh:js markers).
#
# The consume part (`tern bench js consume`: pull fetch, push, ordered; acks explicit and
# none) fills a stream with JSC_MSGS messages per run and times reading it back; its block
# has the compare.sh:jsc markers. The Key-Value part (`tern bench kv put|get`) has the
# compare.sh:kv markers.
#
# Usage: benches/compare.sh            (about 12 minutes: core suite, JetStream, Key-Value)
#        ONLY=js benches/compare.sh    (JetStream publish and consume, about 4-5 minutes)
#        ONLY=consume benches/compare.sh   (JetStream consume only, about 2 minutes)
#        ONLY=kv benches/compare.sh    (Key-Value put/get only, about 2 minutes)
# Knobs: ROUNDS=3 CELL=2s SIZES="16 128 1024" RESULTS=benches/RESULTS.md
#        ONLY=core|js|consume|kv   run one part; the other parts' blocks in RESULTS.md are left alone
#        TERN_BIN=path  a tern binary built elsewhere (else `cargo build --release`)
#        JS_SIZES="128 1024" JS_CELL=$CELL   payloads and seconds per JetStream cell
#        JS_LAZY_TERN=1 also run tern with `sync_interval: "2m"` (no fsync per ack), the
#                       durability nats-server 2.9 has by default (0 to skip)
#        STORE_PARENT=dir  where the store directories go (default: the temp work dir)
#        JSC_MSGS=200000 JSC_SIZES="128"  messages per consume run and their payloads
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CELL=${CELL:-2s}
SIZES=${SIZES:-"16 128 1024"}
RESULTS=${RESULTS:-benches/RESULTS.md}
ONLY=${ONLY:-}
JS_SIZES=${JS_SIZES:-"128 1024"}
JS_CELL=${JS_CELL:-$CELL}
JS_LAZY_TERN=${JS_LAZY_TERN:-1}
JSC_MSGS=${JSC_MSGS:-200000}
JSC_SIZES=${JSC_SIZES:-"128"}
case "$ONLY" in
    "" | core | js | consume | kv) ;;
    *) echo "ONLY must be core, js, consume or kv (or unset for all)" >&2; exit 2 ;;
esac
COMMAND="${ONLY:+ONLY=$ONLY }benches/compare.sh${*:+ $*} (ROUNDS=$ROUNDS CELL=$CELL SIZES=\"$SIZES\")"
JSC_COMMAND="${ONLY:+ONLY=$ONLY }benches/compare.sh${*:+ $*} (ROUNDS=$ROUNDS JSC_MSGS=$JSC_MSGS JSC_SIZES=\"$JSC_SIZES\"${TERN_BIN:+ TERN_BIN=$TERN_BIN})"
JS_COMMAND="${ONLY:+ONLY=$ONLY }benches/compare.sh${*:+ $*} (ROUNDS=$ROUNDS JS_CELL=$JS_CELL JS_SIZES=\"$JS_SIZES\"${TERN_BIN:+ TERN_BIN=$TERN_BIN})"

log() { printf '%s\n' "$*" >&2; }

if ! command -v nats-server >/dev/null; then
    log "installing nats-server (Debian package)"
    apt-get update -qq && apt-get install -y -qq nats-server >/dev/null
fi
if [ -z "${TERN_BIN:-}" ]; then
    log "building tern (release)"
    cargo build --release --quiet
    TERN_BIN=${CARGO_TARGET_DIR:-target}/release/tern
fi
[ -x "$TERN_BIN" ] || { log "no tern binary at $TERN_BIN"; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK" "${STORE:-}"
}
trap cleanup EXIT
# 1000 idle connections need as many descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The client is a copy, so a rebuild in the work tree during the run changes nothing.
cp "$TERN_BIN" "$WORK/tern"
BENCH="$WORK/tern bench"

# start NAME COMMAND...: runs a server, waits for its Listening line, sets URL_<NAME>, PID_<NAME>.
start() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local address=""
    for _ in $(seq 100); do
        address=$(sed -n 's/.*Listening for client connections on \([0-9.:]*\).*/\1/p' "$WORK/$name.log" | head -1)
        [ -n "$address" ] && break
        sleep 0.1
    done
    [ -n "$address" ] || { cat "$WORK/$name.log" >&2; log "$name did not start"; exit 1; }
    printf -v "URL_$name" 'nats://%s' "$address"
    printf -v "PID_$name" '%s' "$pid"
    log "$name: pid $pid on $address"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

start_servers() {
    start nats nats-server -a 127.0.0.1 -p -1
    start tern "$WORK/tern" -a 127.0.0.1 -p -1
}
stop_servers() {
    kill "$PID_nats" "$PID_tern" 2>/dev/null || true
    wait "$PID_nats" "$PID_tern" 2>/dev/null || true
}
SERVERS="nats tern"

# --- Memory -----------------------------------------------------------------------
# hold_and_measure SERVER CLIENTS SUBS_PER_CLIENT: RSS growth (KiB) while they are open.
hold_and_measure() {
    local server=$1 clients=$2 subs=$3 url pid before after
    url=URL_$server; pid=PID_$server
    sleep 0.5
    before=$(rss_kib "${!pid}")
    $BENCH conns -s "${!url}" --clients "$clients" --subs "$subs" --duration 3s >"$WORK/conns.out" 2>&1 &
    local holder=$!
    for _ in $(seq 200); do grep -q '^ready' "$WORK/conns.out" && break; sleep 0.05; done
    grep -q '^ready' "$WORK/conns.out" || { cat "$WORK/conns.out" >&2; exit 1; }
    sleep 1 # let the server settle (tern hands connections to cores asynchronously)
    after=$(rss_kib "${!pid}")
    wait "$holder"
    echo $((after - before))
}

# --- The core suite: memory, throughput and latency, the tool's ceiling ----------------
core_suite() {
# Fresh servers for each measurement: a heap that already grew and shrank (Go keeps
# freed memory) would hide the growth.
declare -gA MEMORY
start_servers
declare -gA CONN_KIB SUBS_KIB
for server in $SERVERS; do CONN_KIB[$server]=$(hold_and_measure "$server" 1000 0); done
stop_servers
start_servers
for server in $SERVERS; do SUBS_KIB[$server]=$(hold_and_measure "$server" 10 1000); done
stop_servers
start_servers
for server in $SERVERS; do
    conn_kib=${CONN_KIB[$server]}
    subs_kib=${SUBS_KIB[$server]}
    MEMORY[$server,conn]=$(awk -v k="$conn_kib" 'BEGIN {printf "%.0f", k * 1024 / 1000}')
    # 10 connections carry the 10k subscriptions: take their share off.
    MEMORY[$server,sub]=$(awk -v k="$subs_kib" -v c="${MEMORY[$server,conn]}" \
        'BEGIN {v = (k * 1024 - 10 * c) / 10000; printf "%.0f", v < 0 ? 0 : v}')
    log "$server memory: ${MEMORY[$server,conn]} B per idle connection, ${MEMORY[$server,sub]} B per subscription"
done

# --- Throughput and latency ---------------------------------------------------------
# scenario name | bench arguments | role row | metrics as name:csv column
SCENARIOS=(
    "pub|pub|publishers|msgs/s:8"
    "pubsub 1->1|pubsub --pubs 1 --subs 1|subscribers|msgs/s:8"
    "fanout 1->4|fanout --subs 4|subscribers|msgs/s:8"
    "queue 4 members|queue --subs 4|subscribers|msgs/s:8"
    "req/reply|req --clients 1 --subs 1|requesters|p50_us:16 p99_us:18"
)
: >"$WORK/values"
for size in $SIZES; do
    for entry in "${SCENARIOS[@]}"; do
        IFS='|' read -r name args role metrics <<<"$entry"
        for round in $(seq "$ROUNDS"); do
            for server in $SERVERS; do
                url=URL_$server
                # shellcheck disable=SC2086
                if $BENCH $args --size "$size" --duration "$CELL" --csv --no-progress \
                    -s "${!url}" >"$WORK/run.csv" 2>"$WORK/run.err"; then
                    ok=1
                else
                    ok=0
                fi
                for metric in $metrics; do
                    column=${metric##*:}
                    value=$(awk -F, -v role="$role" -v col="$column" '$2 == role {print $col}' "$WORK/run.csv")
                    if [ "$ok" = 1 ] && [ -n "$value" ]; then
                        printf '%s|%s|%s\t%s\t%s\t%s\n' "$name" "$size" "${metric%%:*}" "$server" "$round" "$value" >>"$WORK/values"
                    else
                        reason=$(tr '\n' ' ' <"$WORK/run.err" | sed 's/tern bench: //g' | cut -c1-120)
                        printf '%s|%s|%s\t%s\t%s\tFAIL %s\n' "$name" "$size" "${metric%%:*}" "$server" "$round" "$reason" >>"$WORK/values"
                    fi
                done
                log "$(printf '%-16s %5s B  round %s  %-4s %s' "$name" "$size" "$round" "$server" \
                    "$(awk -F, -v role="$role" '$2 == role {printf "%.0f msgs/s", $8}' "$WORK/run.csv")$([ "$ok" = 1 ] || echo ' FAILED')")"
            done
        done
    done
done

# --- Tool ceiling -------------------------------------------------------------------
"$WORK/tern" bench sink --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
for _ in $(seq 50); do grep -q Listening "$WORK/sink.log" && break; sleep 0.1; done
SINK=nats://$(sed -n 's/.*Listening for client connections on \([0-9.:]*\).*/\1/p' "$WORK/sink.log" | head -1)
CEILING=""
for size in $SIZES; do
    # Columns 5 (msgs), 8 (msgs/s) and 22 (tool CPU seconds) of the publishers' row.
    CEILING+=$($BENCH pub --size "$size" --duration "$CELL" --csv --no-progress -s "$SINK" |
        awk -F, -v size="$size" '$2 == "publishers" {
            ns = $22 * 1e9 / $5
            printf "| %s B | %.2fM | %.0f ns | %.1fM |", size, $8 / 1e6, ns, 1e3 / ns }')$'\n'
done
kill "$SINK_PID" 2>/dev/null || true
stop_servers

# --- Report -------------------------------------------------------------------------
table=$(awk -F'\t' '
    function median(list, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] > list[j]; j--) {
            t = list[j]; list[j] = list[j - 1]; list[j - 1] = t
        }
        return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
    }
    function human(v) {
        if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
        if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
        return sprintf("%.1f", v)
    }
    {
        if (!($1 in seen)) { seen[$1] = 1; keys[++nkeys] = $1 }
        value[$1, $2, $3] = $4
        if ($3 > rounds) rounds = $3
    }
    END {
        print "| scenario | payload | metric | nats-server | tern | tern / nats-server, median (min-max) | target | met |"
        print "| --- | --- | --- | --- | --- | --- | --- | --- |"
        for (k = 1; k <= nkeys; k++) {
            key = keys[k]; split(key, part, "|")
            nr = nn = nt = 0; failure = ""
            for (r = 1; r <= rounds; r++) {
                a = value[key, "nats", r]; b = value[key, "tern", r]
                if (a !~ /^FAIL/ && a != "") nats[++nn] = a + 0
                if (b !~ /^FAIL/ && b != "") tern[++nt] = b + 0; else if (b ~ /^FAIL/) failure = substr(b, 6)
                if (a !~ /^FAIL/ && b !~ /^FAIL/ && a != "" && b != "" && a + 0 > 0) {
                    ratio[++nr] = (b + 0) / (a + 0)
                }
            }
            lower_is_better = part[3] ~ /_us$/
            target = lower_is_better ? "<= 0.70" : ">= 1.50"
            if (nr == 0) {
                cells = sprintf("%s | %s | tern failed in every round: %s | %s | no |", \
                    nn ? human(median(nats, nn)) : "failed", nt ? human(median(tern, nt)) : "failed", failure, target)
            } else {
                lo = hi = ratio[1]
                for (i = 1; i <= nr; i++) { if (ratio[i] < lo) lo = ratio[i]; if (ratio[i] > hi) hi = ratio[i] }
                m = median(ratio, nr)
                met = lower_is_better ? (m <= 0.7) : (m >= 1.5)
                note = (nr < rounds) ? sprintf(" (%d of %d rounds%s)", nr, rounds, failure ? "; tern failed: " failure : "") : ""
                cells = sprintf("%s | %s | **%.2f** (%.2f-%.2f)%s | %s | %s |", \
                    human(median(nats, nn)), human(median(tern, nt)), m, lo, hi, note, target, met ? "yes" : "no")
            }
            printf "| %s | %s B | %s | %s\n", part[1], part[2], part[3], cells
        }
    }' "$WORK/values")

memory=$(printf '| what | nats-server | tern | tern / nats-server | target | met |\n| --- | --- | --- | --- | --- | --- |\n')
for what in conn sub; do
    label=$([ $what = conn ] && echo "RSS per idle connection (1000 open)" || echo "RSS per subscription (10k on 10 connections)")
    n=${MEMORY[nats,$what]}; t=${MEMORY[tern,$what]}
    memory+=$'\n'$(awk -v l="$label" -v n="$n" -v t="$t" 'BEGIN {
        r = n > 0 ? t / n : 0
        printf "| %s | %d B | %d B | %.2f | <= 1.00 | %s |", l, n, t, r, (r <= 1.0 && n > 0) ? "yes" : "no" }')
done

cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
generated=$(cat <<EOF
<!-- compare.sh:begin (generated by benches/compare.sh; edits here are overwritten) -->
## Latest run

- Command: \`$COMMAND\`
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) CPUs ($cpu_model), Linux $(uname -r)
- Servers: $(nats-server --version 2>&1 | head -1) vs tern $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), both on loopback, default options
- Client: \`tern bench\` (one client process for both servers), $CELL per cell, $ROUNDS rounds, servers alternating A B A B
- Ratios are per round (tern / nats-server of the same round) and then the median; the
  machine is shared and noisy, so the ratios matter more than the absolute rates.

### Throughput (msgs/s at the role that receives, or publishes for pub) and request latency

$table

### Memory (resident set growth while the clients are connected)

$memory

### The tool's own ceiling (\`tern bench pub\` against \`tern bench sink\`, 1 publisher)

The sink (one thread, parsing with tern's ClientParser) saturates first; the tool's own
CPU per message gives the rate one publisher thread could reach if nothing else limited it.

| payload | msgs/s reached | tool CPU per message | one publisher thread's ceiling (msgs/s) |
| --- | --- | --- | --- |
${CEILING%$'\n'}
<!-- compare.sh:end -->
EOF
)
}

# --- JetStream ------------------------------------------------------------------------
# Acknowledged publishing into a file stream (`tern bench js pub --purge`, so every cell
# starts from an empty stream). Each server has its own fresh store directory on the same
# filesystem. Pairs compared, with their targets:
#   tern (fsync before every ack) / nats-server with fsync on every write  >= 2.0
#   tern (fsync before every ack) / nats-server default                    >= 0.5
#   tern with sync_interval 2m / nats-server default: same durability, no target
JS_SCENARIOS=(
    "js pub sync, 1 publisher|js pub --sync --pubs 1"
    "js pub sync, 8 publishers|js pub --sync --pubs 8"
    "js pub async, window 256|js pub --async --window 256 --pubs 1"
)
JS_PAIRS="tern:natssync:2.0 tern:nats:0.5 tern2m:nats:-"

js_suite() {
    STORE=$(mktemp -d "${STORE_PARENT:-$WORK}/stores.XXXXXX")
    JS_FS=$(df -PT "$STORE" | awk 'NR == 2 {print $2 " on " $1}')
    JS_MOUNT=$(findmnt -no OPTIONS -T "$STORE" 2>/dev/null || echo '?')
    # Can this nats-server fsync every write? `sync_interval` (with `always`) came in 2.10.
    printf 'jetstream { store_dir: "%s", sync_interval: always }\n' "$STORE/natssync" >"$WORK/natssync.conf"
    if nats-server -t -c "$WORK/natssync.conf" >"$WORK/natssync.probe" 2>&1; then
        NATS_SYNC_NOTE=""
    else
        NATS_SYNC_NOTE=$(tr '\n' ' ' <"$WORK/natssync.probe" | sed -e "s|$WORK/||g" -e 's/ *$//')
        log "nats-server can not fsync every write: $NATS_SYNC_NOTE"
    fi
    printf 'jetstream { store_dir: "%s", sync_interval: "2m" }\n' "$STORE/tern2m" >"$WORK/tern2m.conf"

    JS_SERVERS="nats tern"
    start js_nats nats-server -a 127.0.0.1 -p -1 -js -sd "$STORE/nats"
    start js_tern "$WORK/tern" -a 127.0.0.1 -p -1 -js -sd "$STORE/tern"
    if [ -z "$NATS_SYNC_NOTE" ]; then
        start js_natssync nats-server -a 127.0.0.1 -p -1 -c "$WORK/natssync.conf"
        JS_SERVERS+=" natssync"
    fi
    if [ "$JS_LAZY_TERN" = 1 ]; then
        start js_tern2m "$WORK/tern" -a 127.0.0.1 -p -1 -c "$WORK/tern2m.conf"
        JS_SERVERS+=" tern2m"
    fi

    # The tool's ceiling: `tern bench sink` acks every publish at once and stores nothing.
    "$WORK/tern" bench sink --listen 127.0.0.1:0 >"$WORK/js_sink.log" 2>&1 &
    local sink_pid=$!
    PIDS+=("$sink_pid")
    for _ in $(seq 50); do grep -q Listening "$WORK/js_sink.log" && break; sleep 0.1; done
    URL_js_sink=nats://$(sed -n 's/.*Listening for client connections on \([0-9.:]*\).*/\1/p' "$WORK/js_sink.log" | head -1)

    : >"$WORK/js_values"
    for size in $JS_SIZES; do
        for entry in "${JS_SCENARIOS[@]}"; do
            IFS='|' read -r name args <<<"$entry"
            for round in $(seq "$ROUNDS") sink; do
                servers=$JS_SERVERS
                [ "$round" = sink ] && servers=sink
                for server in $servers; do
                    url=URL_js_$server
                    # shellcheck disable=SC2086
                    if $BENCH $args --size "$size" --duration "$JS_CELL" --purge --csv --no-progress \
                        -s "${!url}" >"$WORK/run.csv" 2>"$WORK/run.err"; then
                        ok=1
                    else
                        ok=0
                    fi
                    row=$(awk -F, '$2 == "publishers"' "$WORK/run.csv")
                    if [ "$ok" = 1 ] && [ -n "$row" ]; then
                        # acked msgs/s (8), ack p50 (16) and p99 (18), the tool's CPU per
                        # acked message (22 / 5), ack errors (23)
                        awk -F, -v key="$name|$size" -v server="$server" -v round="$round" '{
                            printf "%s|msgs/s\t%s\t%s\t%s\n", key, server, round, $8
                            printf "%s|p50_us\t%s\t%s\t%s\n", key, server, round, $16
                            printf "%s|p99_us\t%s\t%s\t%s\n", key, server, round, $18
                            printf "%s|tool_us\t%s\t%s\t%s\n", key, server, round, ($5 > 0 ? $22 * 1e6 / $5 : 0)
                            printf "%s|ack_errors\t%s\t%s\t%s\n", key, server, round, $23 }' <<<"$row" >>"$WORK/js_values"
                    else
                        reason=$(tr '\n' ' ' <"$WORK/run.err" | sed 's/tern bench: //g' | cut -c1-120)
                        printf '%s|%s|msgs/s\t%s\t%s\tFAIL %s\n' "$name" "$size" "$server" "$round" "$reason" >>"$WORK/js_values"
                    fi
                    log "$(printf '%-28s %5s B  round %s  %-8s %s' "$name" "$size" "$round" "$server" \
                        "$(awk -F, '{printf "%.0f msgs/s, ack p50 %.0f us, %s ack errors", $8, $16, $23}' <<<"$row")$([ "$ok" = 1 ] || echo ' FAILED')")"
                done
            done
        done
    done
    for server in $JS_SERVERS; do
        pid=PID_js_$server
        kill "${!pid}" 2>/dev/null || true
        wait "${!pid}" 2>/dev/null || true
    done
    kill "$sink_pid" 2>/dev/null || true

    js_table=$(awk -F'\t' -v pairs="$JS_PAIRS" '
        function median(list, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] > list[j]; j--) {
                t = list[j]; list[j] = list[j - 1]; list[j - 1] = t
            }
            return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
        }
        function human(v) {
            if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
            if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
            return sprintf("%.0f", v)
        }
        function us(v) { return v >= 1000 ? sprintf("%.0f", v) : sprintf("%.1f", v) }
        function label(server) {
            if (server == "tern") return "tern, fsync per ack"
            if (server == "tern2m") return "tern, sync_interval 2m"
            if (server == "nats") return "nats-server default"
            if (server == "natssync") return "nats-server, sync_interval always"
            return server
        }
        # collect(base, metric, server, out): the numeric values of every round into out.
        function collect(base, metric, server, out,    r, n, v) {
            n = 0
            for (r = 1; r <= rounds; r++) {
                v = value[base, metric, server, r]
                if (v != "" && v !~ /^FAIL/) out[++n] = v + 0
            }
            return n
        }
        $2 == "sink" { next }
        {
            split($1, part, "|")
            base = part[1] "|" part[2]
            if (!(base in seen)) { seen[base] = 1; bases[++nbases] = base }
            value[base, part[3], $2, $3] = $4
            has[$2] = 1
            if ($3 > rounds) rounds = $3
        }
        END {
            npairs = split(pairs, pair, " ")
            print "| scenario | payload | tern | nats-server | tern acked msgs/s | nats-server acked msgs/s | ratio, median (min-max) | ack p50 / p99 µs, tern | ack p50 / p99 µs, nats-server | target | met |"
            print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            for (k = 1; k <= nbases; k++) {
                base = bases[k]; split(base, part, "|")
                for (p = 1; p <= npairs; p++) {
                    split(pair[p], q, ":"); a = q[1]; b = q[2]; target = q[3]
                    if (!has[a] || !has[b]) continue
                    delete ratio; nr = 0; failure = ""
                    for (r = 1; r <= rounds; r++) {
                        x = value[base, "msgs/s", a, r]; y = value[base, "msgs/s", b, r]
                        if (x ~ /^FAIL/) failure = substr(x, 6)
                        if (y ~ /^FAIL/ && failure == "") failure = b ": " substr(y, 6)
                        if (x != "" && y != "" && x !~ /^FAIL/ && y !~ /^FAIL/ && y + 0 > 0) ratio[++nr] = x / y
                    }
                    delete A; delete B; delete A50; delete B50; delete A99; delete B99
                    na = collect(base, "msgs/s", a, A); nb = collect(base, "msgs/s", b, B)
                    na50 = collect(base, "p50_us", a, A50); nb50 = collect(base, "p50_us", b, B50)
                    na99 = collect(base, "p99_us", a, A99); nb99 = collect(base, "p99_us", b, B99)
                    lat_a = na50 ? us(median(A50, na50)) " / " us(median(A99, na99)) : "-"
                    lat_b = nb50 ? us(median(B50, nb50)) " / " us(median(B99, nb99)) : "-"
                    goal = target == "-" ? "-" : ">= " target
                    if (nr == 0) {
                        cells = sprintf("failed in every round: %s | %s | %s | %s | %s |", failure, lat_a, lat_b, goal, target == "-" ? "-" : "no")
                    } else {
                        lo = hi = ratio[1]
                        for (i = 1; i <= nr; i++) { if (ratio[i] < lo) lo = ratio[i]; if (ratio[i] > hi) hi = ratio[i] }
                        m = median(ratio, nr)
                        note = (nr < rounds) ? sprintf(" (%d of %d rounds; %s)", nr, rounds, failure) : ""
                        met = target == "-" ? "-" : (m >= target + 0 ? "yes" : "no")
                        cells = sprintf("**%.2f** (%.2f-%.2f)%s | %s | %s | %s | %s |", m, lo, hi, note, lat_a, lat_b, goal, met)
                    }
                    printf "| %s | %s B | %s | %s | %s | %s | %s\n", part[1], part[2], label(a), label(b), \
                        na ? human(median(A, na)) : "failed", nb ? human(median(B, nb)) : "failed", cells
                }
            }
        }' "$WORK/js_values")

    js_tool=$(awk -F'\t' '
        function median(list, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] > list[j]; j--) {
                t = list[j]; list[j] = list[j - 1]; list[j - 1] = t
            }
            return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
        }
        {
            split($1, part, "|"); base = part[1] "|" part[2]
            if (!(base in seen)) { seen[base] = 1; bases[++nbases] = base }
        }
        $2 == "sink" {
            if (part[3] == "msgs/s") sink[base] = $4
            if (part[3] == "tool_us") sinktool[base] = sprintf("%.1f µs", $4)
            next
        }
        {
            if (part[3] == "tool_us") tool[base, ++ntool[base]] = $4 + 0
            if (part[3] == "msgs/s" && $4 !~ /^FAIL/ && $4 + 0 > best[base]) best[base] = $4 + 0
            if (part[3] == "ack_errors") errors[base] += $4
        }
        END {
            print "| scenario | payload | tool CPU per acked message, median over the server runs | fastest server run (msgs/s) | against `tern bench sink`, instant acks (msgs/s) | tool CPU per message against the sink | ack errors, all runs |"
            print "| --- | --- | --- | --- | --- | --- | --- |"
            for (k = 1; k <= nbases; k++) {
                base = bases[k]; split(base, part, "|")
                delete list
                for (i = 1; i <= ntool[base]; i++) list[i] = tool[base, i]
                m = ntool[base] ? median(list, ntool[base]) : 0
                printf "| %s | %s B | %.1f µs | %.0f | %s | %s | %d |\n", part[1], part[2], m, best[base], \
                    (base in sink) ? sprintf("%.0f", sink[base]) : "-", (base in sinktool) ? sinktool[base] : "-", errors[base]
            }
        }' "$WORK/js_values")

    if [ -n "$NATS_SYNC_NOTE" ]; then
        js_sync_line="- nats-server with fsync on every write: **not measurable with this nats-server**. It rejects \`jetstream { sync_interval: always }\` (\`nats-server -t\`: $NATS_SYNC_NOTE): the \`sync_interval\`/\`always\` option arrived in nats-server 2.10, and 2.9 has no other setting that fsyncs per write. The ≥ 2x target against it is left unmeasured; the table compares against nats-server's default only."
    else
        js_sync_line="- nats-server with fsync on every write: \`jetstream { store_dir: DIR, sync_interval: always }\`."
    fi
    js_cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    js_generated=$(cat <<EOF
<!-- compare.sh:js:begin (generated by benches/compare.sh; edits here are overwritten) -->
## Latest JetStream run

- Command: \`$JS_COMMAND\`
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) CPUs ($js_cpu_model), Linux $(uname -r), shared by the servers and the load generator
- Store directories: a fresh one per server, all on $JS_FS (mount options $JS_MOUNT)
- Servers: $(nats-server --version 2>&1 | head -1) (Debian package) vs tern $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), on loopback
- tern, fsync per ack: \`-js -sd DIR\`, the default \`sync_interval: always\`: the PubAck goes out after fdatasync (group commit: one fsync per batch of whatever queued meanwhile).
- tern, sync_interval 2m: \`jetstream { store_dir: DIR, sync_interval: "2m" }\`: no fsync before acks, the durability nats-server 2.9 has by default (no target; it shows what the fsync costs).
- nats-server default: \`-js -sd DIR\`. nats-server 2.9.10 acks from the page cache and fsyncs its file store in the background every 2 minutes (hard-coded in 2.9).
$js_sync_line
- Client: \`tern bench js pub ... --duration $JS_CELL --purge --csv\` (stream \`benchstream\`, file storage, 1 replica, subject \`tern.bench.js\`, created by the first run), $ROUNDS rounds, servers alternating A B A B
- Ratios are per round (tern / nats-server of the same round) and then the median.

### Acknowledged throughput and publish-to-ack latency

$js_table

### The load generator's share and ceiling

\`tool_cpu_secs\` / acked messages of each run, and the same scenario once against
\`tern bench sink\`, which acks every publish at once and stores nothing (same machine, so
the sink's CPU competes with the tool's, as a server's does).

$js_tool
<!-- compare.sh:js:end -->
EOF
)
}

# --- JetStream consume ------------------------------------------------------------------
# `tern bench js consume`: each run deletes and refills its stream (file storage,
# untimed), then times one client reading all of it through a new consumer. Servers:
# nats-server default, tern on every core, and tern on one core (the client's connection
# and the stream then share a core: no cross-core hops). Target: tern >= 1.5x.
JSC_SCENARIOS=(
    "pull fetch, ack explicit|--mode fetch --ack explicit"
    "pull fetch, ack none|--mode fetch --ack none"
    "push, ack explicit|--mode push --ack explicit"
    "push, ack none|--mode push --ack none"
    "ordered|--mode ordered --ack none"
)
JSC_PAIRS="tern:nats:1.5 tern1:nats:1.5"

js_consume_suite() {
    STORE=$(mktemp -d "${STORE_PARENT:-$WORK}/stores.XXXXXX")
    start jsc_nats nats-server -a 127.0.0.1 -p -1 -js -sd "$STORE/nats"
    start jsc_tern "$WORK/tern" -a 127.0.0.1 -p -1 -js -sd "$STORE/tern"
    start jsc_tern1 "$WORK/tern" -a 127.0.0.1 -p -1 --cores 1 -js -sd "$STORE/tern1"
    : >"$WORK/jsc_values"
    for size in $JSC_SIZES; do
        for entry in "${JSC_SCENARIOS[@]}"; do
            IFS='|' read -r name args <<<"$entry"
            for round in $(seq "$ROUNDS"); do
                for server in nats tern tern1; do
                    url=URL_jsc_$server
                    # shellcheck disable=SC2086
                    if $BENCH js consume $args --msgs "$JSC_MSGS" --size "$size" --csv \
                        -s "${!url}" >"$WORK/run.csv" 2>"$WORK/run.err"; then
                        rate=$(awk -F, 'NR == 2 {print $8}' "$WORK/run.csv")
                    else
                        rate="FAIL $(tr '\n' ' ' <"$WORK/run.err" | sed 's/tern bench: //g' | cut -c1-120)"
                    fi
                    printf '%s|%s\t%s\t%s\t%s\n' "$name" "$size" "$server" "$round" "$rate" >>"$WORK/jsc_values"
                    log "$(printf '%-26s %5s B  round %s  %-6s %s msgs/s' "$name" "$size" "$round" "$server" "$rate")"
                done
            done
        done
    done
    for server in nats tern tern1; do
        pid=PID_jsc_$server
        kill "${!pid}" 2>/dev/null || true
        wait "${!pid}" 2>/dev/null || true
    done

    jsc_table=$(awk -F'\t' -v pairs="$JSC_PAIRS" '
        function median(list, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] > list[j]; j--) {
                t = list[j]; list[j] = list[j - 1]; list[j - 1] = t
            }
            return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
        }
        function human(v) {
            if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
            if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
            return sprintf("%.0f", v)
        }
        function label(server) {
            if (server == "tern") return "tern, all cores"
            if (server == "tern1") return "tern, 1 core"
            return "nats-server"
        }
        {
            if (!($1 in seen)) { seen[$1] = 1; bases[++nbases] = $1 }
            value[$1, $2, $3] = $4
            if ($3 > rounds) rounds = $3
        }
        END {
            npairs = split(pairs, pair, " ")
            print "| scenario | payload | tern | tern msgs/s, median (min-max) | nats-server msgs/s, median (min-max) | ratio, median (min-max) | target | met |"
            print "| --- | --- | --- | --- | --- | --- | --- | --- |"
            for (k = 1; k <= nbases; k++) {
                base = bases[k]; split(base, part, "|")
                for (p = 1; p <= npairs; p++) {
                    split(pair[p], q, ":"); a = q[1]; b = q[2]; target = q[3]
                    delete R; delete A; delete B; nr = 0; na = 0; nb = 0; failure = ""
                    for (r = 1; r <= rounds; r++) {
                        x = value[base, a, r]; y = value[base, b, r]
                        if (x ~ /^FAIL/) failure = substr(x, 6)
                        if (y ~ /^FAIL/) failure = b ": " substr(y, 6)
                        if (x != "" && x !~ /^FAIL/) A[++na] = x + 0
                        if (y != "" && y !~ /^FAIL/) B[++nb] = y + 0
                        if (x != "" && y != "" && x !~ /^FAIL/ && y !~ /^FAIL/ && y + 0 > 0) R[++nr] = x / y
                    }
                    if (nr == 0) {
                        printf "| %s | %s B | %s | failed: %s | | | >= %s | no |\n", part[1], part[2], label(a), failure, target
                        continue
                    }
                    m = median(R, nr); lo = hi = R[1]
                    for (i = 1; i <= nr; i++) { if (R[i] < lo) lo = R[i]; if (R[i] > hi) hi = R[i] }
                    alo = ahi = A[1]; for (i = 1; i <= na; i++) { if (A[i] < alo) alo = A[i]; if (A[i] > ahi) ahi = A[i] }
                    blo = bhi = B[1]; for (i = 1; i <= nb; i++) { if (B[i] < blo) blo = B[i]; if (B[i] > bhi) bhi = B[i] }
                    printf "| %s | %s B | %s | %s (%s-%s) | %s (%s-%s) | **%.2f** (%.2f-%.2f)%s | >= %s | %s |\n", \
                        part[1], part[2], label(a), human(median(A, na)), human(alo), human(ahi), \
                        human(median(B, nb)), human(blo), human(bhi), m, lo, hi, \
                        (nr < rounds ? sprintf(" (%d of %d rounds)", nr, rounds) : ""), target, (m >= target + 0 ? "yes" : "no")
                }
            }
        }' "$WORK/jsc_values")
    jsc_cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    jsc_generated=$(cat <<EOF
<!-- compare.sh:jsc:begin (generated by benches/compare.sh; edits here are overwritten) -->
## Latest JetStream consume run

- Command: \`$JSC_COMMAND\`
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) CPUs ($jsc_cpu_model), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; shared by the servers, the load generator and other work
- Servers: $(nats-server --version 2>&1 | head -1) (Debian package) vs tern $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), \`-js -sd DIR\` (file storage), on loopback; "tern, 1 core" adds \`--cores 1\`
- Client: \`tern bench js consume --mode M --ack A --msgs $JSC_MSGS --size S --csv\`: the stream is deleted and refilled (untimed), then one client reads all of it through a new consumer (fetch: batches of 500, each message acked before the next pull; push: flow control answered; ordered: ephemeral, ack none, flow control); the clock runs from CONSUMER.CREATE to the last message (with acks: to the PONG after the last ack). $ROUNDS rounds, servers alternating.
- Ratios are per round (tern / nats-server of the same round) and then the median.

$jsc_table
<!-- compare.sh:jsc:end -->
EOF
)
}

# write_block BEGIN END TEXT: prints TEXT and puts it in $RESULTS in place of the lines
# from the one containing BEGIN to the one containing END (appended if they are missing).
write_block() {
    local begin=$1 end=$2 text=$3
    printf '%s\n' "$text"
    printf '%s\n' "$text" >"$WORK/generated.md"
    if [ -f "$RESULTS" ] && grep -qF "$begin" "$RESULTS"; then
        awk -v generated="$WORK/generated.md" -v begin="$begin" -v end="$end" '
            index($0, begin) { while ((getline line < generated) > 0) print line; skip = 1; next }
            index($0, end) { skip = 0; next }
            !skip { print }' "$RESULTS" >"$WORK/results.md"
        cp "$WORK/results.md" "$RESULTS"
    elif [ -f "$RESULTS" ]; then
        printf '\n%s\n' "$text" >>"$RESULTS"
    else
        printf '# tern vs nats-server\n\n%s\n' "$text" >"$RESULTS"
    fi
    log "wrote $RESULTS"
}

# --- Key-Value --------------------------------------------------------------------------
# Synchronous KV operations (`tern bench kv put|get`: one operation in flight per client)
# on a file bucket with history 1. Servers: nats-server's default (acks from the page
# cache), tern's default (fsync before every ack), and tern with `sync_interval: "2m"`,
# the durability nats-server 2.9 has by default (the equal-durability pair; target 1.5x).
KV_CELL=${KV_CELL:-$CELL}
KV_SCENARIOS=(
    "kv put, 1 client|kv put --clients 1"
    "kv put, 8 clients|kv put --clients 8"
    "kv get, 1 client|kv get --clients 1"
    "kv get, 8 clients|kv get --clients 8"
)
KV_PAIRS="tern2m:nats:1.5 tern:nats:-"

kv_suite() {
    local store
    store=$(mktemp -d "${STORE_PARENT:-$WORK}/kvstores.XXXXXX")
    KV_STORE=$store
    printf 'jetstream { store_dir: "%s", sync_interval: "2m" }\n' "$store/tern2m" >"$WORK/kvtern2m.conf"
    start kv_nats nats-server -a 127.0.0.1 -p -1 -js -sd "$store/nats"
    start kv_tern "$WORK/tern" -a 127.0.0.1 -p -1 -js -sd "$store/tern"
    start kv_tern2m "$WORK/tern" -a 127.0.0.1 -p -1 -c "$WORK/kvtern2m.conf"
    : >"$WORK/kv_values"
    for scenario in "${KV_SCENARIOS[@]}"; do
        local name=${scenario%%|*} words=${scenario#*|}
        for round in $(seq "$ROUNDS"); do
            for server in nats tern tern2m; do
                local url=URL_kv_$server row
                # shellcheck disable=SC2086
                if row=$($BENCH $words --server "${!url}" --duration "$KV_CELL" --csv 2>"$WORK/kv_err"); then
                    printf '%s\t%s\t%s\t%s\n' "$name" "$server" "$round" "$(cut -d, -f5 <<<"$row")" >>"$WORK/kv_values"
                    log "$name $server round $round: $(cut -d, -f5 <<<"$row") ops/s (p50 $(cut -d, -f7 <<<"$row") us)"
                else
                    printf '%s\t%s\t%s\tFAIL\n' "$name" "$server" "$round" >>"$WORK/kv_values"
                    log "$name $server round $round failed: $(head -c 300 "$WORK/kv_err")"
                fi
            done
        done
    done
    kill "$PID_kv_nats" "$PID_kv_tern" "$PID_kv_tern2m" 2>/dev/null || true
    wait "$PID_kv_nats" "$PID_kv_tern" "$PID_kv_tern2m" 2>/dev/null || true
    rm -rf "$KV_STORE"
    kv_table=$(awk -F'\t' -v pairs="$KV_PAIRS" '
        function median(list,   n, a, i, j, t) {
            n = split(list, a, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $4 != "FAIL" { values[$1 "|" $2] = values[$1 "|" $2] " " $4 }
        !($1 in seen) { seen[$1] = 1; order[++count] = $1 }
        END {
            np = split(pairs, p, " ")
            header = "| scenario | nats-server ops/s | tern, fsync per ack | tern, sync_interval 2m"
            for (k = 1; k <= np; k++) { split(p[k], q, ":"); header = header " | " q[1] "/" q[2] (q[3] != "-" ? " (target " q[3] "x)" : "") }
            print header " |"
            line = "| --- | --- | --- | ---"; for (k = 1; k <= np; k++) line = line " | ---"; print line " |"
            for (i = 1; i <= count; i++) {
                s = order[i]
                n = median(values[s "|nats"]); t = median(values[s "|tern"]); t2 = median(values[s "|tern2m"])
                row = sprintf("| %s | %.0f | %.0f | %.0f", s, n, t, t2)
                for (k = 1; k <= np; k++) {
                    split(p[k], q, ":"); a = median(values[s "|" q[1]]); b = median(values[s "|" q[2]])
                    r = b > 0 ? a / b : 0
                    mark = q[3] == "-" ? "" : (r >= q[3] ? " met" : " missed")
                    row = row sprintf(" | %.2fx%s", r, mark)
                }
                print row " |"
            }
        }' "$WORK/kv_values")
    local cpu_model
    cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    kv_generated=$(cat <<EOF
<!-- compare.sh:kv:begin (generated by benches/compare.sh; edits here are overwritten) -->
## Key-Value: synchronous put and get

- Command: \`${ONLY:+ONLY=$ONLY }benches/compare.sh\` (ROUNDS=$ROUNDS KV_CELL=$KV_CELL), $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) CPUs ($cpu_model), Linux $(uname -r), shared by the servers and the load generator
- nats-server $(nats-server --version | awk '{print $NF}') with \`-js -sd DIR\` (acks from the page cache; 2.9 fsyncs in the background every 2 minutes); tern default \`-js -sd DIR\` (fsync before every ack, group commit); tern with \`jetstream { sync_interval: "2m" }\`: the durability of nats-server's default, so that pair is the equal-durability comparison.
- Client: \`tern bench kv put|get --clients N --duration $KV_CELL --csv\` (bucket \`benchkv\`, file storage, history 1, 1000 keys, 128 B values; one operation in flight per client; get is DIRECT.GET last-by-subject), $ROUNDS rounds, servers alternating; medians of ops/s.

$kv_table
<!-- compare.sh:kv:end -->
EOF
)
}

if [ -z "$ONLY" ] || [ "$ONLY" = core ]; then
    core_suite
    write_block '<!-- compare.sh:begin' '<!-- compare.sh:end' "$generated"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = js ]; then
    js_suite
    write_block '<!-- compare.sh:js:begin' '<!-- compare.sh:js:end' "$js_generated"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = js ] || [ "$ONLY" = consume ]; then
    js_consume_suite
    write_block '<!-- compare.sh:jsc:begin' '<!-- compare.sh:jsc:end' "$jsc_generated"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = kv ]; then
    kv_suite
    write_block '<!-- compare.sh:kv:begin' '<!-- compare.sh:kv:end' "$kv_generated"
fi
