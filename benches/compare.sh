#!/usr/bin/env bash
# tern against nats-server, side by side, on this machine.
#
# Starts both servers on loopback (random ports), measures their memory with idle
# connections and subscriptions, then runs every scenario on both in alternation
# (A B A B A B) for each payload size, and prints the median ratio tern/nats-server with
# its min-max over the rounds. The generated part of benches/RESULTS.md (between the
# compare.sh markers) is replaced; hand-written analysis around it is kept.
#
# Usage: benches/compare.sh            (about 4-5 minutes)
# Knobs: ROUNDS=3 CELL=2s SIZES="16 128 1024" RESULTS=benches/RESULTS.md
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CELL=${CELL:-2s}
SIZES=${SIZES:-"16 128 1024"}
RESULTS=${RESULTS:-benches/RESULTS.md}
COMMAND="benches/compare.sh${*:+ $*} (ROUNDS=$ROUNDS CELL=$CELL SIZES=\"$SIZES\")"

log() { printf '%s\n' "$*" >&2; }

if ! command -v nats-server >/dev/null; then
    log "installing nats-server (Debian package)"
    apt-get update -qq && apt-get install -y -qq nats-server >/dev/null
fi
log "building tern (release)"
cargo build --release --quiet

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# 1000 idle connections need as many descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The client is a copy, so a rebuild in the work tree during the run changes nothing.
cp target/release/tern "$WORK/tern"
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
# Fresh servers for each measurement: a heap that already grew and shrank (Go keeps
# freed memory) would hide the growth.
declare -A MEMORY
start_servers
declare -A CONN_KIB SUBS_KIB
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
PIDS+=("$!")
for _ in $(seq 50); do grep -q Listening "$WORK/sink.log" && break; sleep 0.1; done
SINK=nats://$(sed -n 's/.*Listening for client connections on \([0-9.:]*\).*/\1/p' "$WORK/sink.log" | head -1)
CEILING=""
for size in $SIZES; do
    # Columns 5 (msgs), 8 (msgs/s) and the last (tool CPU seconds) of the publishers' row.
    CEILING+=$($BENCH pub --size "$size" --duration "$CELL" --csv --no-progress -s "$SINK" |
        awk -F, -v size="$size" '$2 == "publishers" {
            ns = $NF * 1e9 / $5
            printf "| %s B | %.2fM | %.0f ns | %.1fM |", size, $8 / 1e6, ns, 1e3 / ns }')$'\n'
done

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

printf '%s\n' "$generated"
if [ -f "$RESULTS" ] && grep -q '<!-- compare.sh:begin' "$RESULTS"; then
    printf '%s\n' "$generated" >"$WORK/generated.md"
    awk -v generated="$WORK/generated.md" '
        /<!-- compare.sh:begin/ { while ((getline line < generated) > 0) print line; skip = 1; next }
        /<!-- compare.sh:end/ { skip = 0; next }
        !skip { print }' "$RESULTS" >"$WORK/results.md"
    cp "$WORK/results.md" "$RESULTS"
else
    printf '# tern vs nats-server\n\n%s\n' "$generated" >"$RESULTS"
fi
log "wrote $RESULTS"
