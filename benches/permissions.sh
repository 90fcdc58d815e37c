#!/usr/bin/env bash
# Publish throughput with permissions (20 allow + 20 deny publish rules) versus a user with
# none, on one tern server, alternating A B A B... and printing the median ratio.
# Usage: benches/permissions.sh   (ROUNDS=5 CELL=3s SIZES="16 128" TERN_BIN=target/release/tern)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CELL=${CELL:-3s}
SIZES=${SIZES:-"16 128"}
TERN=${TERN_BIN:-target/release/tern}
[ -x "$TERN" ] || cargo build --release
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

allow='"bench.>"'
deny='"bench.secret.>"'
for i in $(seq 1 19); do
    allow="$allow, \"allowed$i.*.x\""
    deny="$deny, \"denied$i.>\""
done
cat >"$WORK/tern.conf" <<CONF
authorization {
  users = [
    { user: plain, password: plain }
    { user: ruled, password: ruled, permissions: { publish: { allow: [$allow], deny: [$deny] } } }
  ]
}
CONF
"$TERN" -a 127.0.0.1 -p -1 -c "$WORK/tern.conf" >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    PORT=$(grep -o 'Listening for client connections on [0-9.]*:[0-9]*' "$WORK/log" | sed 's/.*://' || true)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "${PORT:-}" ] || { cat "$WORK/log"; exit 1; }

: >"$WORK/values"
for size in $SIZES; do
    for round in $(seq "$ROUNDS"); do
        for user in plain ruled; do
            rate=$("$TERN" bench pub --server "nats://$user:$user@127.0.0.1:$PORT" --subject bench.perm \
                --size "$size" --duration "$CELL" --csv | grep "^pub,publishers," | cut -d, -f8)
            printf '%s\t%s\t%s\n' "$size" "$user" "$rate" >>"$WORK/values"
            printf 'size %s round %s %s: %s msgs/s\n' "$size" "$round" "$user" "$rate" >&2
        done
    done
done
awk -F'\t' '
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { v[$1 "|" $2] = v[$1 "|" $2] " " $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
        print "| payload | no permissions, msgs/s | 20 allow + 20 deny, msgs/s | cost |"
        print "| --- | --- | --- | --- |"
        for (i = 1; i <= n; i++) {
            s = order[i]; a = median(v[s "|plain"]); b = median(v[s "|ruled"])
            printf "| %s B | %.0f | %.0f | %+.1f%% |\n", s, a, b, (a > 0 ? (a - b) / a * 100 : 0)
        }
    }' "$WORK/values"
