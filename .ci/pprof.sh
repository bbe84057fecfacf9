#!/usr/bin/env bash
# Go's own `go tool pprof` against the course service's /debug/pprof/, on
# 127.0.0.1 only, in about 30 s once built (plus Debian's golang-go the
# first time):
#
# 1. Under /work?us=2000 load from the course's loadgen, a 5-second CPU
#    profile's top frames are the service's work function (`spin`).
# 2. The heap profile reads as Go's (inuse_space by default), its stacks
#    start in the service's code, not in the allocator, and the allocs
#    profile puts /alloc's `alloc_and_free` on top.
# 3. The goroutine profile reads as Go's (Type: goroutine), and its debug=1
#    and debug=2 text forms list the service's Gs with their wait reasons
#    and spawn sites (the accept loop's connections, parked in IO wait).
# 4. Bad input gets Go's answers: seconds=0 a 400, a second CPU profile
#    while one runs a 500 "cpu profiling already in use".
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v go >/dev/null; then
    echo "pprof.sh: installing Debian's golang-go (for go tool pprof)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
# Lessons 18 to 20 sit behind the `profiling` feature, which the README's
# workspace test command does not turn on: their quick runs are here.
cargo test --quiet -p lessons --features profiling --test profiling_lessons_run
cargo build --release --quiet -p service --features pprof  # /debug/pprof is behind `pprof`
cargo build --release --quiet -p loadgen
BIN=target/release
WORK=$(mktemp -d)
export PPROF_TMPDIR=$WORK HOME=$WORK # pprof saves each profile it fetches there

server_pid= load_pid=
cleanup() {
    [[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null || true
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/service" --port 0 --procs 2 >"$WORK/service.out" 2>&1 &
server_pid=$!
URL=
for _ in $(seq 100); do
    URL=$(grep -o 'http://[0-9.:]*' "$WORK/service.out" || true)
    [[ -n $URL ]] && break
    sleep 0.05
done
[[ -n $URL ]] || { echo "pprof.sh: the service did not start"; exit 1; }
fail() { echo "pprof.sh: FAIL: $*"; exit 1; }

echo "--- CPU profile under /work?us=2000 load"
"$BIN/loadgen" "$URL/" --path '/work?us=2000' --rate 400 --connections 4 --duration 8s --quiet \
    >"$WORK/load.out" 2>&1 &
load_pid=$!
go tool pprof -top "$URL/debug/pprof/profile?seconds=5" >"$WORK/cpu.txt" 2>&1 || { cat "$WORK/cpu.txt"; fail "go tool pprof (cpu)"; }
head -20 "$WORK/cpu.txt"
# The work function: `spin` with at least half of all samples in its subtree.
spin_cum=$(awk '$NF ~ /(^|::)spin$/ { gsub("%","",$5); print int($5); exit }' "$WORK/cpu.txt")
[[ -n $spin_cum && $spin_cum -ge 50 ]] || fail "spin is not the hot function (cum ${spin_cum:-absent}%)"
echo "pprof.sh: spin has ${spin_cum}% of the CPU samples (cum)"
wait "$load_pid" || true
load_pid=

echo "--- heap and allocs profiles"
for _ in $(seq 40); do curl -s -o /dev/null "$URL/alloc?kb=2048"; done
go tool pprof -top "$URL/debug/pprof/heap" >"$WORK/heap.txt" 2>&1 || { cat "$WORK/heap.txt"; fail "go tool pprof (heap)"; }
head -14 "$WORK/heap.txt"
grep -q '^Type: inuse_space' "$WORK/heap.txt" || fail "heap is not an inuse_space profile"
top_heap=$(awk '/flat%/ { getline; print $NF; exit }' "$WORK/heap.txt")
[[ $top_heap != *allocator::* && $top_heap != "record" ]] || fail "the heap's leaf frames are the allocator's ($top_heap)"
go tool pprof -top "$URL/debug/pprof/allocs" >"$WORK/allocs.txt" 2>&1 || { cat "$WORK/allocs.txt"; fail "go tool pprof (allocs)"; }
head -14 "$WORK/allocs.txt"
grep -q '^Type: alloc_space' "$WORK/allocs.txt" || fail "allocs is not an alloc_space profile"
grep -q 'alloc_and_free' "$WORK/allocs.txt" || fail "alloc_and_free missing from the allocs profile"

echo "--- goroutine profile and dump"
# Two idle keep-alive connections: their Gs are parked reading, in IO wait.
exec 3<>/dev/tcp/127.0.0.1/"${URL##*:}" 4<>/dev/tcp/127.0.0.1/"${URL##*:}"
go tool pprof -top "$URL/debug/pprof/goroutine" >"$WORK/goroutine.txt" 2>&1 || { cat "$WORK/goroutine.txt"; fail "go tool pprof (goroutine)"; }
head -12 "$WORK/goroutine.txt"
grep -q '^Type: goroutine' "$WORK/goroutine.txt" || fail "goroutine is not a goroutine profile"
curl -s "$URL/debug/pprof/goroutine?debug=1" >"$WORK/goroutine1.txt"
head -8 "$WORK/goroutine1.txt"
grep -q '^goroutine profile: total [1-9]' "$WORK/goroutine1.txt" || fail "debug=1 has no total"
curl -s "$URL/debug/pprof/goroutine?debug=2" >"$WORK/goroutine2.txt"
head -12 "$WORK/goroutine2.txt"
grep -q '^goroutine [0-9]* \[IO wait' "$WORK/goroutine2.txt" || fail "debug=2 shows no G in IO wait"
grep -q '^created by runtime::spawn in goroutine' "$WORK/goroutine2.txt" || fail "debug=2 has no spawn sites"
exec 3>&- 4>&-
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/debug/pprof/goroutine?debug=9")
[[ $code == 400 ]] || fail "goroutine?debug=9 gave $code, want 400"

echo "--- bad input"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/debug/pprof/profile?seconds=0")
[[ $code == 400 ]] || fail "seconds=0 gave $code, want 400"
curl -s -o /dev/null "$URL/debug/pprof/profile?seconds=2" &
first=$!
second=
for _ in $(seq 40); do
    sleep 0.05
    second=$(curl -s -w ' %{http_code}' "$URL/debug/pprof/profile?seconds=1")
    [[ $second == *500 ]] && break
done
wait "$first"
[[ $second == *"cpu profiling already in use"*500 ]] || fail "a second profile at once got: $second"
echo "pprof.sh: second profile at once: $second"
for p in block mutex; do
    go tool pprof -top "$URL/debug/pprof/$p" >"$WORK/$p.txt" 2>&1 || { cat "$WORK/$p.txt"; fail "go tool pprof ($p)"; }
done
echo "pprof.sh: ok"
