#!/usr/bin/env bash
# The engine benchmark of the load-testing chapter, one run, alternating:
# the fast engine on our runtime, hyper on our runtime, hyper on tokio, and
# a thread-per-connection std::net server. For each: QPS at saturation (wrk,
# closed loop) and P99 at a fixed rate (our loadgen, open loop). Rounds
# alternate engines so that noise from other work on the machine is spread
# over all of them; the table shows the mean of the rounds.
#
# The server gets core 0 (one P, or one tokio worker; the threads engine's
# threads are all on core 0 too), the clients core 1. Loopback only.
#
# usage: .ci/engines.sh [ROUNDS] [SECONDS] [RATE]   (defaults 2 3 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2} SECS=${2:-3} RATE=${3:-5000} CONNS=64
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# hyper and tokio are behind service's `full` feature. Two builds: with
# `-p service -p loadgen --features service/full`, cargo reads `service/full`
# as the feature of service's dev-dependency on itself and builds the
# binary without hyper.
cargo build --release --quiet -p service --features full
cargo build --release --quiet -p loadgen
BIN=target/release
if [[ $(nproc) -ge 2 ]]; then SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1); else SERVER_CPU=() CLIENT_CPU=(); fi

ENGINES=("fast ours" "full ours" "full tokio" "threads ours")
NAMES=("fast engine on ours" "hyper on ours" "hyper on tokio" "thread per connection")
declare -A QPS P99
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; true' EXIT
for round in $(seq "$ROUNDS"); do
    for i in "${!ENGINES[@]}"; do
        read -r engine rt <<<"${ENGINES[$i]}"
        out=$(mktemp)
        "${SERVER_CPU[@]}" "$BIN/service" --engine "$engine" --runtime "$rt" --procs 1 --port 0 >"$out" 2>/dev/null &
        pid=$!
        URL=
        for _ in $(seq 100); do URL=$(grep -o 'http://[0-9.:]*' "$out" || true); [[ -n $URL ]] && break; sleep 0.05; done
        rm -f "$out"
        q=$("${CLIENT_CPU[@]}" wrk -t1 -c$CONNS -d"${SECS}s" "$URL/" | awk '/^Requests\/sec:/ {print int($2)}')
        p=$("${CLIENT_CPU[@]}" "$BIN/loadgen" "$URL/" --rate "$RATE" --connections $CONNS --duration "${SECS}s" --json --quiet \
            | grep -o '"p99_us":[0-9]*' | head -1 | cut -d: -f2)
        kill -TERM $pid; wait $pid 2>/dev/null || true; pid=
        QPS[$i]="${QPS[$i]:-} $q" P99[$i]="${P99[$i]:-} $p"
        printf 'round %d  %-22s  wrk %7d req/s   loadgen P99 at %d/s %8.2f ms\n' "$round" "${NAMES[$i]}" "$q" "$RATE" "$(awk -v u="$p" 'BEGIN{print u/1000}')" >&2
    done
done
# The median of the rounds, and their range: one slow round (another
# developer's build) moves a mean a lot and a median hardly at all.
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%d", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk -v d="$2" 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.*f to %.*f", d ? 2 : 0, lo / (d ? 1000 : 1), d ? 2 : 0, hi / (d ? 1000 : 1) }'; }
echo
echo "| engine (server on 1 core, $CONNS connections) | QPS at saturation (wrk) | range | P99 at $RATE req/s (loadgen) | range (ms) |"
echo "|---|---:|---:|---:|---:|"
for i in "${!ENGINES[@]}"; do
    printf '| %s | %d | %s | %.2f ms | %s |\n' "${NAMES[$i]}" "$(median "${QPS[$i]}")" "$(range "${QPS[$i]}" 0)" \
        "$(awk -v u="$(median "${P99[$i]}")" 'BEGIN{print u/1000}')" "$(range "${P99[$i]}" 1)"
done
echo
echo "(median of $ROUNDS alternating rounds of ${SECS} s each; $(nproc) cores shared with other work: expect noise)"
