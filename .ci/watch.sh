#!/usr/bin/env bash
# The terminal test of `course watch`: drives the real program in a real
# terminal (tmux), the way a learner uses it.
#
# In a copy of the project (so the real stubs are never touched), it starts
# `cargo run --bin course -- watch` in a tmux pane and checks what the pane
# shows (capture-pane) as it goes:
#   1. the untouched ex01 stub is graded: FAIL, "not started";
#   2. the stub is broken (a type error appended): the compiler's first error;
#   3. the stub is replaced by its reference solution (a fix): DONE, and watch
#      moves on to ex02; the progress file records ex01 as done;
#   4. ex08's stub is made to hang: the grader's time-limit message;
#   5. `n` goes to the next unfinished exercise, `l` shows the list, `h` the
#      hint; `q` quits with status 0 and the terminal is back in line mode
#      with echo;
#   6. a second start skips ex01 (its saved verdict still matches the stub)
#      and Ctrl-C quits cleanly too.
# Every wait polls the pane against a deadline; nothing sleeps for a fixed
# time to decide an outcome. The captured screens are printed. Exits non-zero
# on the first check that fails.
#
# Cargo's target directory is shared with the real checkout (CARGO_TARGET_DIR),
# so the copy reuses every compiled dependency and rebuilds only the
# workspace's own crates.
set -euo pipefail
cd "$(dirname "$0")/.."
real=$(pwd)
export CARGO_TERM_COLOR=never
started=$SECONDS

if ! command -v tmux >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq tmux >/dev/null
fi

target_dir="${CARGO_TARGET_DIR:-$real/target}"
work=$(mktemp -d /tmp/course-watch.XXXXXX)
sock="course-watch-$$"
session=watch
tm() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    rm -rf "$work"
    # The copy's `course` was linked to the shared target/debug/course; link
    # the real checkout's own build back (nothing is compiled if it is fresh).
    (cd "$real" && CARGO_TARGET_DIR="$target_dir" cargo build -q --bin course) || true
}
trap cleanup EXIT

tar -C "$real" --exclude=./target --exclude=./.git -cf - . | tar -C "$work" -xf -
# cargo names a workspace crate's artifacts by its path inside the workspace,
# and tar keeps modification times, so without this the copy and the real
# checkout would share (and overwrite) each other's builds of `exercises`
# and `course`: the real checkout could then grade the copy's solution. A
# profile setting that changes nothing else (dev's default is 256) gives the
# copy's builds of those two packages names of their own; every dependency
# is still shared.
cat >>"$work/Cargo.toml" <<'EOF'

# Added by .ci/watch.sh to its temporary copy (see there).
[profile.dev.package.exercises]
codegen-units = 255
[profile.dev.package.course]
codegen-units = 255
EOF
# The copy's own builds outlive it (in the shared target directory), and tar
# keeps modification times: an earlier run's build from the solution would
# look fresh against today's untouched stub. New times make cargo rebuild.
find "$work/exercises" -name '*.rs' -exec touch {} +
stub="$work/exercises/src/ex01_timeouts.rs"
solution="$work/exercises/solutions/ex01_timeouts.rs"

# Build first, outside the pane, so a build failure reports as one and the
# waits below time grading, not compiling the workspace.
echo "building course and ex01's tests in the copy ($work) ..."
(cd "$work" && CARGO_TARGET_DIR="$target_dir" cargo build -q --bin course)
(cd "$work" && CARGO_TARGET_DIR="$target_dir" cargo test -q -p exercises --test ex01_timeouts --no-run 2>/dev/null)
echo "built in $((SECONDS - started)) s"

screen=""
capture() { screen=$(tm capture-pane -p -t "$session"); }
# wait_for REGEX SECONDS WHAT: poll the pane until REGEX shows, or fail.
wait_for() {
    local deadline=$((SECONDS + $2))
    while :; do
        capture
        if grep -qE -- "$1" <<<"$screen"; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            printf '\nFAILED: %s: no /%s/ on the screen within %s s. The screen:\n%s\n' "$3" "$1" "$2" "$screen"
            exit 1
        fi
        sleep 0.3 # the polling interval; the deadline above decides
    done
}
show() { printf '\n----- screen: %s (%s s) -----\n%s\n' "$1" "$((SECONDS - started))" "$screen"; }
# check_exit HOW: watch exited with status 0 and left the terminal in line mode with echo.
check_exit() {
    grep -q 'course exited with status 0' <<<"$screen" || { echo "FAILED: $1 did not exit with status 0"; exit 1; }
    grep -qE '^icanon echo' <<<"$screen" || { echo "FAILED: after $1 the terminal was not restored (want icanon echo)"; exit 1; }
}
refuse() { # refuse REGEX WHAT: the current screen must not show REGEX
    if grep -qE -- "$1" <<<"$screen"; then
        printf '\nFAILED: %s: /%s/ is on the screen:\n%s\n' "$2" "$1" "$screen"
        exit 1
    fi
}

# A clean environment for the pane, keeping only what finds the toolchain.
pane_env="PATH='$PATH' HOME='$HOME' TERM=xterm"
for v in CARGO_HOME RUSTUP_HOME RUSTUP_TOOLCHAIN; do
    if [[ -n "${!v:-}" ]]; then pane_env+=" $v='${!v}'"; fi
done
tm new-session -d -s "$session" -x 120 -y 50 "env -i $pane_env bash --norc --noprofile"
run_watch="cd '$work' && CARGO_TARGET_DIR='$target_dir' CARGO_TERM_COLOR=never cargo run -q --bin course -- watch; echo \"course exited with status \$?\"; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo"

tm send-keys -t "$session" "$run_watch" Enter
wait_for 'FAIL  ex01_timeouts: 0 of [0-9]+ tests pass \(not started' 300 "the untouched stub"
show "1. the untouched stub"
refuse 'stack backtrace' "only the first message, no backtraces"

printf '\npub fn broken() -> u32 {\n    "not a number"\n}\n' >>"$stub"
wait_for 'error\[E0308\]: mismatched types' 300 "a stub with a type error"
show "2. a stub that does not compile"
refuse 'could not compile' "the compiler's first error, not cargo's summary"

cp "$solution" "$stub"
wait_for 'DONE  ex01_timeouts: ([0-9]+) of \1 tests pass\. On to ex02' 300 "the fixed stub"
show "3. the stub replaced by its solution"
grep -q '"ex01_timeouts"' "$work/target/course/progress.json" || {
    echo "FAILED: no ex01_timeouts in $work/target/course/progress.json"
    exit 1
}
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["exercises"]["ex01_timeouts"]; assert r["status"]=="done" and r["done_at"], r' \
    "$work/target/course/progress.json" || { echo "FAILED: the progress file does not record ex01 as done"; exit 1; }

# A hang: every todo!() of ex08 becomes a wait that never ends. Saving it makes
# ex08 the current exercise, and its tests hit the grader's 10 s time limit
# (8 tests, two at a time on two cores: about 40 s).
hang="$work/exercises/src/ex08_next_free_fast.rs"
sed -i 's/todo!(/{ loop { std::thread::park(); } }; todo!(/' "$hang"
wait_for 'FAIL  ex08_next_free_fast' 240 "a stub that hangs"
show "4. a stub that hangs"
grep -qE 'ex08: no answer in 10 s' <<<"$screen" || { echo "FAILED: the time-limit message is not shown"; exit 1; }

tm send-keys -t "$session" n
wait_for 'Exercise 9 of [0-9]+: ex09_central' 60 "n goes to the next unfinished exercise"
tm send-keys -t "$session" l
wait_for '> ex09_central' 30 "the list (l)"
grep -qE 'ex01_timeouts +done [0-9-]+ [0-9:]+ UTC' <<<"$screen" || { echo "FAILED: the list does not mark ex01 done"; echo "$screen"; exit 1; }
show "5. after n, then l"
tm send-keys -t "$session" h
wait_for '^# ex09' 30 "the hint (h)"

tm send-keys -t "$session" q
wait_for '^-?icanon -?echo' 30 "q quits (then the shell prints the terminal's mode)"
show "6. after q"
check_exit "q"

tm send-keys -t "$session" "clear; $run_watch" Enter
wait_for 'Exercise 2 of [0-9]+: ex02_worker_pool' 120 "a second start begins after the saved ex01"
refuse 'grading ex01' "ex01 is unchanged and must not be graded again"
tm send-keys -t "$session" C-c
wait_for '^-?icanon -?echo' 30 "Ctrl-C quits (then the shell prints the terminal's mode)"
show "7. second start, then Ctrl-C"
check_exit "Ctrl-C"

printf '\nwatch mode passed its terminal test in %s s\n' "$((SECONDS - started))"
