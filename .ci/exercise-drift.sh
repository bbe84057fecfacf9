#!/usr/bin/env bash
# Stubs cannot drift from their solutions. Each exercise's stub
# (exercises/src/exNN_*.rs) and solution (exercises/solutions/exNN_*.rs)
# differ only inside marked regions:
#
#     // --- your code: NAME ---
#     ...the learner's part (stub) / the reference code (solution)...
#     // --- end of your code ---
#
# and in the module doc comment at the top (the leading `//!` lines: the
# stub states the task, the solution explains its answer). Everything else,
# the scaffolding the learner is given (types, signatures, docs, imports
# outside regions), is written once and must match line for line, and both
# files must have the same regions in the same order. This script prints a
# diff of the two skeletons for every exercise that drifted and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The skeleton of one file: no leading `//!` block, each region's body
# replaced by its name. Unbalanced markers are an error of their own.
skeleton() {
    awk -v file="$1" '
        BEGIN { doc = 1; open_at = 0 }
        doc && /^\/\/!/ { next }
        { doc = 0 }
        /^[ \t]*\/\/ --- your code: .* ---[ \t]*$/ {
            if (open_at) { printf "%s:%d: region opened inside the region of line %d\n", file, NR, open_at > "/dev/stderr"; bad = 1 }
            open_at = NR
            line = $0; sub(/^[ \t]*/, "", line)
            print "<<" line ">>"
            next
        }
        /^[ \t]*\/\/ --- end of your code ---[ \t]*$/ {
            if (!open_at) { printf "%s:%d: end of a region that was never opened\n", file, NR > "/dev/stderr"; bad = 1 }
            open_at = 0
            next
        }
        open_at { next }
        { print }
        END {
            if (open_at) { printf "%s:%d: region never closed\n", file, open_at > "/dev/stderr"; bad = 1 }
            exit bad
        }' "$1"
}

drifted=0
checked=0
for solution in exercises/solutions/ex*.rs; do
    stub="exercises/src/$(basename "$solution")"
    if [[ ! -f $stub ]]; then
        echo "$solution has no stub at $stub"
        drifted=1
        continue
    fi
    checked=$((checked + 1))
    if ! diff -u --label "$stub (skeleton)" --label "$solution (skeleton)" \
        <(skeleton "$stub") <(skeleton "$solution"); then
        echo "DRIFT: $stub and $solution differ outside their '// --- your code' regions"
        drifted=1
    fi
done
if [[ $drifted -ne 0 ]]; then
    echo
    echo "exercise drift check FAILED: make the scaffolding the same in both files, or mark the part that differs"
    exit 1
fi
echo "the $checked exercises' stubs and solutions agree outside their marked regions"
