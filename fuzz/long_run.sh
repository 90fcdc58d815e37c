#!/usr/bin/env bash
# The long fuzz run tests/TORTURE.md records: each target given runs until its fuzzer has
# used CPU_SECS seconds of CPU (user + system, read from /proc; default one hour), then is
# interrupted (libFuzzer prints its final stats) and the next target starts. CPU time, not
# wall time, is what counts: run it at idle priority and it takes only what nothing else
# wants. Two lanes (two invocations with different targets) use both cores.
#
#   cargo install cargo-fuzz && (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build)
#   setsid nice -n 19 chrt --idle 0 fuzz/long_run.sh client_parser jwt_decode &
#   setsid nice -n 19 chrt --idle 0 fuzz/long_run.sh connect_auth connect_json &
#
# Logs go to $FUZZ_LOGS (default fuzz/logs/): <target>.log is libFuzzer's output,
# lanes.log one line per target started and finished with its CPU seconds. New inputs go
# to fuzz/corpus/<target>/ (ignored by git), crashes to fuzz/artifacts/.
set -u
CPU_SECS=${CPU_SECS:-3600}
cd "$(dirname "$0")"
logs=${FUZZ_LOGS:-logs}
mkdir -p "$logs"
bin=target/x86_64-unknown-linux-gnu/release

# CPU seconds (user + system) process $1 has used; empty once it is gone.
cpu_secs() {
  local stat rest fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return
  # Fields after the command name (which may hold spaces) start after the last ')'.
  rest=${stat##*) }
  read -ra fields <<< "$rest"
  # utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  echo $(( (fields[11] + fields[12]) / $(getconf CLK_TCK) ))
}

for target in "$@"; do
  if [ ! -x "$bin/$target" ]; then
    echo "no $bin/$target: build with (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build)" >&2
    exit 1
  fi
  mkdir -p "corpus/$target" "artifacts/$target"
  echo "$(date -u +%FT%TZ) $target start" >> "$logs/lanes.log"
  "$bin/$target" "corpus/$target" "seeds/$target" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" -max_total_time=1000000 > "$logs/$target.log" 2>&1 &
  pid=$!
  used=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    now=$(cpu_secs "$pid") || break
    [ -n "$now" ] || break
    used=$now
    if [ "$used" -ge "$CPU_SECS" ]; then
      # libFuzzer prints its final stats at once but may take a while to exit.
      kill -INT "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      break
    fi
  done
  wait "$pid"
  status=$?
  echo "$(date -u +%FT%TZ) $target done: exit $status, ${used} CPU-s," \
    "$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$target.log" | tail -n 1)" >> "$logs/lanes.log"
done
