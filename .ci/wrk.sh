#!/usr/bin/env bash
# Cross-checks the course's load generator against wrk (Debian's package),
# on 127.0.0.1 only, in well under two minutes once built:
#
# 1. Same server, closed loop, the server the bottleneck (`/work?us=25`:
#    25 µs of CPU per request on one P): our QPS must be within 10% of
#    wrk's. The two clients run at the same time, 8 connections each, so
#    they share the same server in the same seconds and whatever else the
#    machine does (a neighbour's compile, a hypervisor taking the core away)
#    falls on both alike; the median ratio over five such rounds decides.
#    Run one after the other instead, as the rounds printed next for
#    information are, the two clients measure different seconds: on a
#    shared 2-core VM single rounds then differed by up to 3.4x and once all
#    seven leaned the same way (median 1.38, a red CI with nothing wrong in
#    either client). On `/` (no work) the client is the bottleneck instead,
#    and the ratio compares two clients' own costs, not what they measure:
#    it is printed for information too (our loadgen is the lighter client).
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

# qps_wrk CONNS SECONDS PATH / qps_ours CONNS SECONDS PATH: one closed-loop
# run against $URL, its requests per second as an integer.
qps_wrk() {
    "${CLIENT_CPU[@]}" wrk -t1 -c"$1" -d"$2"s "$URL${3#/}" | awk '/^Requests\/sec:/ {print int($2)}'
}
qps_ours() {
    local q
    q=$("${CLIENT_CPU[@]}" "$BIN/loadgen" "$URL" --path "$3" --closed --connections "$1" --duration "$2"s --json --quiet | json_field qps)
    echo "${q%.*}"
}

# record_round ROUND WRK OURS: prints one round, adds its ratio (x 1000) to
# $ratios and its QPS to the sums.
record_round() {
    local ratio=$(($3 * 1000 / $2))
    ratios+=("$ratio")
    sum_wrk=$((sum_wrk + $2)) sum_ours=$((sum_ours + $3))
    printf '  round %d   wrk %8d   loadgen %8d   loadgen/wrk %d.%03d\n' "$1" "$2" "$3" $((ratio / 1000)) $((ratio % 1000))
}

# summary LABEL ROUNDS: the mean QPS and the median of the per-round
# ratios; sets $median (ratio x 1000).
summary() {
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$((($2 + 1) / 2))p")
    printf '%-44s %10s %10s %12s\n' "" wrk loadgen "median ratio"
    printf '%-44s %10d %10d %8d.%03d\n' "$1" $((sum_wrk / $2)) $((sum_ours / $2)) $((median / 1000)) $((median % 1000))
}

# together_rounds N PATH: N 2 s rounds with both clients running at once,
# CONNS/2 connections each.
together_rounds() {
    local round w o wrk_out
    ratios=() sum_wrk=0 sum_ours=0
    wrk_out=$(mktemp)
    for round in $(seq "$1"); do
        qps_wrk $((CONNS / 2)) 2 "$2" >"$wrk_out" &
        o=$(qps_ours $((CONNS / 2)) 2 "$2")
        wait $!
        w=$(cat "$wrk_out")
        record_round "$round" "$w" "$o"
    done
    rm -f "$wrk_out"
    summary "mean QPS, $2, $1 x 2 s, $((CONNS / 2)) + $((CONNS / 2)) conns" "$1"
}

# alternating_rounds N PATH: N alternating 2 s rounds of wrk alone and our
# closed loop alone, CONNS connections each.
alternating_rounds() {
    local round w o
    ratios=() sum_wrk=0 sum_ours=0
    for round in $(seq "$1"); do
        w=$(qps_wrk $CONNS 2 "$2")
        o=$(qps_ours $CONNS 2 "$2")
        record_round "$round" "$w" "$o"
    done
    summary "mean QPS, $2, $1 x 2 s, $CONNS conns" "$1"
}

start_server --engine fast
echo "=== closed loop, both clients at once on one server, fast engine, /work?us=25 (the server is the bottleneck): requests per second"
together_rounds 5 "/work?us=25"
if ((median > 1100 || median < 900)); then
    echo "FAIL: our closed-loop QPS is more than 10% away from wrk's, both measuring the same server in the same seconds"
    echo "      (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    exit 1
fi
echo
echo "=== for information: the same, one client after the other, $CONNS connections each (each round measures different seconds)"
alternating_rounds 3 "/work?us=25"
echo
echo "=== for information: / (no work; the client is the bottleneck, so this compares the two clients' own cost per request)"
alternating_rounds 3 "/"
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
