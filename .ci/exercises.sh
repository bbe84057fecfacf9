#!/usr/bin/env bash
# Honest grading: every exercise's graded tests must ALL fail against the
# untouched stub (a test that a stub passes grades nothing) and all pass
# against the reference solution. Exercises are found from the test targets
# exercises/tests/ex*.rs. Prints a table; exits non-zero on any violation.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# Stub and solution share their scaffolding (only marked regions differ).
bash .ci/exercise-drift.sh || exit 1

# Build both flavours first, so that a compile error is reported as one.
cargo test -p exercises --tests --no-run --quiet || { echo "the stubs do not compile"; exit 1; }
cargo test -p exercises --features solutions --tests --no-run --quiet || { echo "the solutions do not compile"; exit 1; }

# "passed failed" summed over the `test result:` lines of a cargo test run;
# empty if the run printed none (it did not build or did not run).
counts() {
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i - 1)
                if ($(i) ~ /^failed;?$/) f += $(i - 1)
            }
            seen = 1
        }
        END { if (seen) print p + 0, f + 0 }'
}

log_dir=$(mktemp -d)
bad=0
printf '%-22s %-22s %-22s %s\n' exercise "stub (must all fail)" "solution (must pass)" verdict
for test_file in exercises/tests/ex*.rs; do
    id=$(basename "$test_file" .rs)
    cargo test -p exercises --test "$id" >"$log_dir/$id.stub" 2>&1
    stub_rc=$?
    cargo test -p exercises --features solutions --test "$id" >"$log_dir/$id.solution" 2>&1
    sol_rc=$?
    read -r sp sf <<<"$(counts <"$log_dir/$id.stub")"
    read -r qp qf <<<"$(counts <"$log_dir/$id.solution")"
    problems=()
    if [[ -z "${sp:-}" || $stub_rc -eq 0 || ${sp:-1} -ne 0 || ${sf:-0} -eq 0 ]]; then
        problems+=("STUB DOES NOT FAIL EVERY TEST")
    fi
    if [[ -z "${qp:-}" || $sol_rc -ne 0 || ${qf:-1} -ne 0 || ${qp:-0} -eq 0 ]]; then
        problems+=("SOLUTION DOES NOT PASS")
    fi
    verdict=ok
    ((${#problems[@]} == 0)) || verdict=$(IFS=';'; echo "${problems[*]}")
    [[ $verdict == ok ]] || bad=1
    printf '%-22s %-22s %-22s %s\n' "$id" \
        "${sp:-?} passed, ${sf:-?} failed" "${qp:-?} passed, ${qf:-?} failed" "$verdict"
done
if [[ $bad -ne 0 ]]; then
    echo
    echo "grading check FAILED; logs in $log_dir"
    exit 1
fi
rm -rf "$log_dir"
echo
echo "every stub fails all of its graded tests; every solution passes them"
