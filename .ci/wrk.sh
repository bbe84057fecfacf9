#!/usr/bin/env bash
# Cross-checks the course's load generator against wrk (Debian's package),
# on 127.0.0.1 only, in well under two minutes once built:
#
# 1. Same server, same connection count, closed loop, the server the
#    bottleneck (`/work?us=25`: 25 µs of CPU per request on one P): our QPS
#    must be within 10% of wrk's (the median ratio over seven alternating
#    rounds, so another developer's compile on this 2-core machine does not
#    decide it). On `/` (no work) the client is the bottleneck instead, and
#    the ratio compares two clients' own costs, not what they measure: it is
#    printed for information (our loadgen is the lighter client there).
# 2. A server that stalls 200 ms once a second: our open loop's P99 must show
#    the stall (>= 150 ms), and our closed loop's, which has no correction,
#    must not (< 50 ms); wrk's P99 is printed beside them (wrk 4 corrects its
#    histogram after the fact, so it shows the stall too).
#
# The server runs on core 0 and the clients on core 1 (taskset), when the
# machine has two cores. Installs wrk when missing (apt-get; CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v wrk >/dev/null; then
    echo "wrk.sh: installing Debian's wrk"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# Lessons 14 and 15 sit behind the `load-testing` feature, which the
# README's workspace test command does not turn on: their quick runs are here.
cargo test --quiet -p lessons --features load-testing --test load_lessons_run
cargo build --release --quiet -p service -p loadgen
BIN=target/release

if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
    SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1)
else
    SERVER_CPU=() CLIENT_CPU=()
fi

server_pid=
stop_server() {
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap stop_server EXIT

# start_server ARGS...: starts `service ARGS` on a free port, sets $URL.
start_server() {
    local out
    out=$(mktemp)
    "${SERVER_CPU[@]}" "$BIN/service" --port 0 --procs 1 "$@" >"$out" 2>/dev/null &
    server_pid=$!
    for _ in $(seq 100); do
        URL=$(grep -o 'http://[0-9.:]*' "$out" || true)
        [[ -n $URL ]] && break
        sleep 0.05
    done
    rm -f "$out"
    [[ -n $URL ]] || { echo "wrk.sh: the server did not start"; exit 1; }
    URL="$URL/"
}

json_field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

# wrk's "99%  181.62ms" line, in microseconds.
wrk_p99_us() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 0
        printf "%d\n", v * f }'
}

CONNS=16
# closed_rounds N PATH: N alternating 2 s rounds of wrk and our closed loop
# against $URL with PATH; prints each round, sets $median (ratio x 1000).
closed_rounds() {
    local rounds=$1 path=$2 ratios=() sum_wrk=0 sum_ours=0 w o ratio round
    for round in $(seq "$rounds"); do
        w=$("${CLIENT_CPU[@]}" wrk -t1 -c$CONNS -d2s "$URL${path#/}" | awk '/^Requests\/sec:/ {print int($2)}')
        o=$("${CLIENT_CPU[@]}" "$BIN/loadgen" "$URL" --path "$path" --closed --connections $CONNS --duration 2s --json --quiet | json_field qps)
        o=${o%.*}
        ratio=$(( o * 1000 / w ))
        ratios+=("$ratio")
        sum_wrk=$((sum_wrk + w)) sum_ours=$((sum_ours + o))
        printf '  round %d   wrk %8d   loadgen %8d   loadgen/wrk %d.%03d\n' "$round" "$w" "$o" $((ratio / 1000)) $((ratio % 1000))
    done
    # The median of the per-round ratios: each round pairs two runs a few
    # seconds apart, so noise from other work on the machine mostly cancels.
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
    printf '%-40s %10s %10s %12s\n' "" wrk loadgen "median ratio"
    printf '%-40s %10d %10d %8d.%03d\n' "mean QPS, $path, $rounds x 2 s" $((sum_wrk / rounds)) $((sum_ours / rounds)) $((median / 1000)) $((median % 1000))
}

start_server --engine fast
echo "=== closed loop, $CONNS connections, fast engine, /work?us=25 (the server is the bottleneck): requests per second"
closed_rounds 7 "/work?us=25"
if (( median > 1100 || median < 900 )); then
    echo "FAIL: our closed-loop QPS is more than 10% away from wrk's on the same server (load average: $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "      on a machine this busy the rounds above say whether it is noise)"
    exit 1
fi
echo
echo "=== for information: / (no work; the client is the bottleneck, so this compares the two clients' own cost per request)"
closed_rounds 3 "/"
stop_server

echo
echo "=== a server that stalls 200 ms once a second: P99 over 5 s, $CONNS connections"
start_server --engine fast --stall-every-ms 1000 --stall-ms 200
wrk_p99=$("${CLIENT_CPU[@]}" wrk -t1 -c$CONNS -d5s --latency "$URL" | wrk_p99_us)
open_p99=$("${CLIENT_CPU[@]}" "$BIN/loadgen" "$URL" --rate 2000 --connections $CONNS --duration 5s --json --quiet | json_field p99_us)
closed_p99=$("${CLIENT_CPU[@]}" "$BIN/loadgen" "$URL" --closed --connections $CONNS --duration 5s --json --quiet | json_field p99_us)
stop_server
ms() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
printf '%-44s %12s\n' "client" "P99"
printf '%-44s %12s\n' "loadgen, open loop at 2000/s (corrected)" "$(ms "$open_p99")"
printf '%-44s %12s\n' "wrk (closed loop, corrected after the fact)" "$(ms "$wrk_p99")"
printf '%-44s %12s\n' "loadgen --closed (no correction)" "$(ms "$closed_p99")"
fail=0
((open_p99 >= 150000)) || { echo "FAIL: the open loop's P99 does not show the 200 ms stall"; fail=1; }
((closed_p99 < 50000)) || { echo "FAIL: the closed loop's P99 should stay small (it omits the stalled requests)"; fail=1; }
exit $fail
