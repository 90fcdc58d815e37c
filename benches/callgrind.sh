#!/usr/bin/env bash
# Server instructions per message, counted by callgrind: deterministic, so it shows what a
# change costs or saves even on a shared, noisy machine (wall-clock rates do not).
#
# Runs `tern --cores 1 --spin_before_park_us 0` under callgrind (one core: valgrind runs
# threads one at a time, and a parked core's spinning would be counted), warms it up with
# 2000 messages, zeroes the counters, runs `tern bench SCENARIO --size SIZE -n MSGS`, dumps
# and divides the instructions by MSGS. Kernel work (syscalls) is not counted.
#
# Usage: benches/callgrind.sh SCENARIO SIZE MSGS [bench args...]
#   e.g. benches/callgrind.sh pub 16 300000
#        benches/callgrind.sh queue 16 200000 --subs 4
# Knobs: TERN_BIN=path (else target/release/tern), PORT=19334, OUT=dir for the profile
# (kept for `callgrind_annotate`; default a temp dir, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=$1 SIZE=$2 MSGS=$3
shift 3
TERN_BIN=${TERN_BIN:-target/release/tern}
PORT=${PORT:-19334}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$TERN_BIN" ] || { echo "no tern binary at $TERN_BIN (cargo build --release)" >&2; exit 1; }
KEEP=${OUT:-}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$TERN_BIN" \
    -a 127.0.0.1 -p "$PORT" --cores 1 --spin_before_park_us 0 >"$OUT/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    [ -n "$KEEP" ] || rm -rf "$OUT"
}
trap cleanup EXIT
for _ in $(seq 150); do grep -q "Server is ready" "$OUT/server.log" && break; sleep 0.2; done
URL=nats://127.0.0.1:$PORT
"$TERN_BIN" bench "$SCENARIO" -s "$URL" --size "$SIZE" -n 2000 --no-progress "$@" >/dev/null
callgrind_control -z "$PID" >/dev/null 2>&1
"$TERN_BIN" bench "$SCENARIO" -s "$URL" --size "$SIZE" -n "$MSGS" --no-progress "$@" >"$OUT/bench.out"
callgrind_control -d "$PID" >/dev/null 2>&1
sleep 0.5
PROFILE=$(ls -t "$OUT"/callgrind.out.*.* | head -1)
TOTAL=$(callgrind_annotate "$PROFILE" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$SCENARIO ${SIZE} B: $((TOTAL / MSGS)) server instructions per message ($TOTAL over $MSGS)"
[ -z "$KEEP" ] || echo "profile: $PROFILE (callgrind_annotate --inclusive=yes $PROFILE)"
