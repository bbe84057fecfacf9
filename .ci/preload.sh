#!/usr/bin/env bash
# Real programs on the course's allocator: builds libspanalloc.so (the
# allocator-c package) and runs unmodified Debian programs with it in
# LD_PRELOAD -- a threaded Python workload, a Lua script of small-object
# churn, GNU sort, sqlite3, gcc -O2 and git -- comparing each one's output with its output on glibc's malloc, byte for
# byte. Exits non-zero on any mismatch, crash or non-zero exit, or if a run
# "on our allocator" shows no sign of having been served by it (the library
# writes its statistics to SPANALLOC_STATS at exit; no file, or no
# allocations in it, means the preload did not take).
#
# Then prints a table: wall time and peak RSS (GNU time's %e and %M), glibc /
# ours / mimalloc / jemalloc (Debian's libmimalloc2.0 and libjemalloc2),
# the median of several runs each, and the ratio to glibc.
#
#   bash .ci/preload.sh            5 runs of each program on each allocator
#   bash .ci/preload.sh --quick    2 runs (what CI uses)
#   bash .ci/preload.sh --runs N   N runs
#   bash .ci/preload.sh --only python,lua   just these workloads (and no
#                                          lesson-27 run)
#
# Installs what it needs when missing (apt-get; run as root). Work files
# go to target/preload/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=5
ONLY=
while (($#)); do
    case $1 in
        --quick) RUNS=2 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift ;;
        --only) ONLY=${2:?--only needs a list such as python,lua}; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "preload.sh: unknown flag \`$1\` (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "preload.sh: --runs wants a positive number, got \`$RUNS\`" >&2; exit 2; }

# ---- what the script needs ------------------------------------------------
need=()
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v gcc >/dev/null || need+=(gcc)
command -v git >/dev/null || need+=(git)
command -v lua5.4 >/dev/null || need+=(lua5.4)
[[ -x /usr/bin/python3 ]] || need+=(python3)
[[ -x /usr/bin/time ]] || need+=(time)
dpkg -s libmimalloc2.0 >/dev/null 2>&1 || need+=(libmimalloc2.0)
dpkg -s libjemalloc2 >/dev/null 2>&1 || need+=(libjemalloc2)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
libpath() { dpkg -L "$1" | grep -E "/$2\.so\.[0-9]+$" | head -1; }
MIMALLOC=$(libpath libmimalloc2.0 libmimalloc)
JEMALLOC=$(libpath libjemalloc2 libjemalloc)
for f in "$MIMALLOC" "$JEMALLOC"; do
    [[ -f $f ]] || { echo "preload.sh: peer allocator library not found ($f)" >&2; exit 1; }
done

echo "building libspanalloc.so (release)"
cargo build -q -p allocator-c --release
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
OURS=$TARGET_DIR/release/libspanalloc.so
[[ -f $OURS ]] || { echo "preload.sh: $OURS was not built" >&2; exit 1; }

WORK=$TARGET_DIR/preload
rm -rf "$WORK"
mkdir -p "$WORK/in" "$WORK/out" "$WORK/stats"

# ---- the inputs (deterministic) -------------------------------------------
cat >"$WORK/in/threads.py" <<'EOF'
# Four threads build, serialise, parse and sort many small objects; with
# PYTHONMALLOC=malloc every object is a malloc/free. Prints one checksum
# line per thread, in thread order.
import json, threading, zlib

def work(seed, out):
    rows = [{"id": i, "name": "n%07d" % ((i * 7919 + seed) % 1000003),
             "tags": [str(j) * (j % 5 + 1) for j in range(i % 7)]}
            for i in range(15000)]
    text = json.dumps(rows, sort_keys=True)
    back = json.loads(text)
    back.sort(key=lambda r: (r["name"], r["id"]))
    joined = "|".join(r["name"] + ",".join(r["tags"]) for r in back)
    out[seed] = "%d %d %08x" % (len(back), len(text), zlib.crc32(joined.encode()))

out = {}
threads = [threading.Thread(target=work, args=(s, out)) for s in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for s in range(4): print(s, out[s])
EOF

cat >"$WORK/in/churn.lua" <<'EOF'
-- Small-object churn: binary trees built and dropped (every node a table),
-- strings built and split, a table of records sorted. Lua's allocator is
-- realloc: each table and string is a malloc/free. Prints checksums only.
local function tree(d)
  if d == 0 then return {} end
  return { tree(d - 1), tree(d - 1) }
end
local function check(t)
  if not t[1] then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local total = 0
local long = tree(12)
for d = 4, 14, 2 do
  local n = 1 << (16 - d)
  for _ = 1, n do total = total + check(tree(d)) end
end
print("trees", total, check(long))
local parts, sum = {}, 0
for i = 1, 60000 do
  local s = string.format("k%06d:%s", (i * 7919) % 100003, string.rep("x", i % 17))
  parts[#parts + 1] = s
  if #parts > 512 then
    local joined = table.concat(parts, ",")
    for w in joined:gmatch("[^,]+") do sum = sum + #w end
    parts = {}
  end
end
print("strings", sum)
local rows = {}
for i = 1, 60000 do rows[i] = { id = i, key = (i * 48271) % 2147483647, name = "r" .. (i % 977) } end
table.sort(rows, function(a, b) if a.key ~= b.key then return a.key < b.key end return a.id < b.id end)
local h = 0
for i = 1, #rows, 97 do h = (h * 31 + rows[i].id) % 4294967296 end
print("sort", #rows, h)
EOF

/usr/bin/python3 - "$WORK/in/lines.txt" <<'EOF'
import random, sys
r = random.Random(27)
words = ["alpha", "beta", "gamma", "delta", "span", "heap", "page", "class"]
with open(sys.argv[1], "w") as f:
    for i in range(250000):
        f.write("%s-%d %s %08x\n" % (r.choice(words), r.randrange(10**6), r.choice(words), r.getrandbits(32)))
EOF

cat >"$WORK/in/db.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER, pad TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 120000)
INSERT INTO t SELECT i, printf('key%06d', (i * 7919) % 100003), (i * 31) % 977, hex(randomblob(0) || zeroblob(i % 40)) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(v), count(DISTINCT k) FROM t;
SELECT k, count(*), sum(v) FROM t GROUP BY k ORDER BY sum(v) DESC, k LIMIT 5;
SELECT group_concat(k, ',') FROM (SELECT k FROM t WHERE v = 3 ORDER BY k LIMIT 20);
EOF

/usr/bin/python3 - "$WORK/in/prog.c" <<'EOF'
import sys
n = 60
with open(sys.argv[1], "w") as f:
    f.write("#include <stdio.h>\n#include <string.h>\n")
    for i in range(n):
        f.write("""
static unsigned long f%d(unsigned long x) {
    unsigned long a[16];
    for (int i = 0; i < 16; i++) a[i] = x * %d + i;
    for (int r = 0; r < 8; r++)
        for (int i = 0; i < 16; i++) a[i] = (a[i] << 3) ^ a[(i + %d) %% 16] ^ (a[i] >> 5);
    unsigned long s = 0;
    for (int i = 0; i < 16; i++) s += a[i] * (i | 1);
    return s + (x > %d ? f%d(x / 2) : 0);
}
""" % (i, i + 3, i % 7 + 1, 1000 + i, max(i - 1, 0)) if i > 0 else """
static unsigned long f0(unsigned long x) { return x * 2654435761u; }
""")
    f.write("int main(void) {\n    unsigned long s = 0;\n")
    for i in range(n):
        f.write("    s ^= f%d(%d);\n" % (i, 5000 + i))
    f.write('    printf("%lu\\n", s);\n    return 0;\n}\n')
EOF

# ---- the workloads ----------------------------------------------------------
# Each prints to stdout only what must be identical on every allocator.
run_python() { PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 "$WORK/in/threads.py"; }
run_lua() { lua5.4 "$WORK/in/churn.lua"; }
run_sort() { LC_ALL=C sort --parallel=2 -S 32M -k2,2 -k1,1 "$WORK/in/lines.txt" | sha256sum; }
run_sqlite() { sqlite3 :memory: <"$WORK/in/db.sql"; }
run_gcc() {
    local d; d=$(mktemp -d "$WORK/gcc.XXXX")
    gcc -O2 -o "$d/prog" "$WORK/in/prog.c"
    "$d/prog"
    sha256sum <"$d/prog"
    rm -rf "$d"
}
run_git() {
    local d; d=$(mktemp -d "$WORK/git.XXXX")
    (
        cd "$d"
        export HOME=$d GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=course GIT_AUTHOR_EMAIL=course@example.invalid
        export GIT_COMMITTER_NAME=course GIT_COMMITTER_EMAIL=course@example.invalid
        git init -q -b main repo && cd repo
        for c in $(seq 1 10); do
            export GIT_AUTHOR_DATE="2026-01-01T00:00:$((c + 10))Z" GIT_COMMITTER_DATE="2026-01-01T00:00:$((c + 10))Z"
            awk -v c="$c" 'BEGIN { for (f = 1; f <= 40; f++) { o = "f" f ".txt"; printf "file %d commit %d\n", f, c > o
                for (i = f; i <= f * c + 30; i++) printf "%d ", i > o; print "" > o; close(o) } }'
            git add -A && git commit -q -m "commit $c"
        done
        git log --stat --format='%H %s' | sha256sum
        git diff HEAD~6 HEAD --stat | tail -1
        git gc -q && git count-objects -v | grep -E '^(count|in-pack|packs)'
        git fsck --full 2>&1 && git rev-parse HEAD
    )
    rm -rf "$d"
}
WORKLOADS=(python lua sort sqlite gcc git)
if [[ -n $ONLY ]]; then
    IFS=, read -r -a picked <<<"$ONLY"
    for w in "${picked[@]}"; do
        [[ " ${WORKLOADS[*]} " == *" $w "* ]] || { echo "preload.sh: unknown workload \`$w\` in --only (one of: ${WORKLOADS[*]})" >&2; exit 2; }
    done
    WORKLOADS=("${picked[@]}")
fi
ALLOCS=(glibc ours mimalloc jemalloc)
preload_of() {
    case $1 in
        glibc) echo "" ;;
        ours) echo "$OURS" ;;
        mimalloc) echo "$MIMALLOC" ;;
        jemalloc) echo "$JEMALLOC" ;;
    esac
}

export -f run_python run_lua run_sort run_sqlite run_gcc run_git
export WORK
fail=0
results=$WORK/results.tsv
: >"$results"

# One run: the workload under `env LD_PRELOAD=...`, timed by GNU time.
one_run() { # workload alloc run
    local w=$1 a=$2 r=$3 pre; pre=$(preload_of "$a")
    local out=$WORK/out/$w.$a.$r
    local stats=$WORK/stats/$w.$r
    local envs=()
    [[ -n $pre ]] && envs+=("LD_PRELOAD=$pre")
    if [[ $a == ours ]]; then
        rm -rf "$stats"; mkdir -p "$stats"
        envs+=("SPANALLOC_STATS=$stats/%p.json")
    fi
    local status=0
    env "${envs[@]}" /usr/bin/time -f '%e %M' -o "$out.time" \
        timeout 60 bash -c "run_$w" >"$out.stdout" 2>"$out.stderr" || status=$?
    if ((status != 0)); then
        echo "FAIL: $w on $a (run $r) exited with status $status; stderr:" >&2
        tail -5 "$out.stderr" >&2
        fail=1
        return
    fi
    if ! cmp -s "$out.stdout" "$WORK/out/$w.reference"; then
        echo "FAIL: $w on $a (run $r): output differs from glibc's:" >&2
        diff "$WORK/out/$w.reference" "$out.stdout" | head -10 >&2
        fail=1
    fi
    if [[ $a == ours ]]; then
        # Proof that the run was served by libspanalloc.so: the stats it wrote.
        local served
        served=$(/usr/bin/python3 - "$stats" <<'EOF'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/*.json")
allocs = sum(json.load(open(f))["stats"]["total_allocs"] for f in files)
print(len(files), allocs)
EOF
)
        read -r nfiles nallocs <<<"$served"
        if ((nfiles == 0 || nallocs == 0)); then
            echo "FAIL: $w on ours (run $r): no statistics from libspanalloc.so ($nfiles files, $nallocs allocations): the preload did not take" >&2
            fail=1
        fi
        echo "$w $r $nfiles $nallocs" >>"$WORK/served.txt"
    fi
    read -r secs kb <"$out.time"
    printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$a" "$r" "$secs" "$kb" >>"$results"
}

echo "glibc $(ldd --version | head -1 | awk '{print $NF}'), mimalloc $MIMALLOC, jemalloc $JEMALLOC"
echo "ours: $OURS"
for w in "${WORKLOADS[@]}"; do
    # The reference output: glibc's, from a run outside the timed ones.
    timeout 120 bash -c "run_$w" >"$WORK/out/$w.reference" 2>"$WORK/out/$w.reference.stderr" || {
        echo "FAIL: $w on glibc (reference run) failed:" >&2; tail -5 "$WORK/out/$w.reference.stderr" >&2; exit 1; }
    printf '%-7s' "$w"
    fail_before=$fail
    for r in $(seq 1 "$RUNS"); do
        for a in "${ALLOCS[@]}"; do  # interleaved, so that machine noise hits every allocator alike
            one_run "$w" "$a" "$r"
        done
        printf '.'
    done
    if ((fail == fail_before)); then echo " output identical to glibc's on every allocator"; else echo " MISMATCH OR FAILURE"; fi
done

echo
echo "libspanalloc.so served (workload, run, processes that wrote stats, allocations):"
awk '$2 == 1' "$WORK/served.txt" | sed 's/^/  /'
echo
/usr/bin/python3 - "$results" "$RUNS" <<'EOF'
import math, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
runs = sys.argv[2]
allocs = ["glibc", "ours", "mimalloc", "jemalloc"]
works = []
med = {}
for w, a, r, secs, kb in rows:
    if w not in works: works.append(w)
    med.setdefault((w, a), []).append((float(secs), int(kb)))
print("Median of %s runs each: wall time, peak RSS (GNU time's %%M), and in brackets the ratio to glibc." % runs)
print()
print("| program | " + " | ".join(allocs) + " |")
print("|---|" + "---|" * len(allocs))
geo = {a: [0.0, 0.0, 0] for a in allocs}
for w in works:
    base = None
    cells = []
    for a in allocs:
        v = med.get((w, a))
        if not v:
            cells.append("-"); continue
        t = statistics.median(x[0] for x in v)
        m = statistics.median(x[1] for x in v) / 1024
        if base is None: base = (t, m)
        rt, rm = t / max(base[0], 1e-3), m / base[1]
        geo[a][0] += math.log(max(rt, 1e-6)); geo[a][1] += math.log(rm); geo[a][2] += 1
        cells.append("%.2f s (%.2fx), %.1f MiB (%.2fx)" % (t, rt, m, rm))
    print("| %s | %s |" % (w, " | ".join(cells)))
print("| geometric mean | %s |" % " | ".join(
    "time %.2fx, RSS %.2fx" % (math.exp(g[0] / g[2]), math.exp(g[1] / g[2])) if g[2] else "-"
    for g in geo.values()))
EOF

echo
lesson=$WORK/lesson-27.out
if [[ -n $ONLY ]]; then
    echo "lesson-27 --quick: skipped (--only)"
elif echo "lesson-27 --quick (the lesson's own run under the preload):" &&
    cargo run -q -p lessons --bin lesson-27 -- --quick >"$lesson" 2>&1 &&
    (($(grep -c 'same as glibc$' "$lesson") == 4)) &&
    grep -q "What our allocator saw, at the program's peak" "$lesson"; then
    sed -n '/## The same program/,/^program output/p' "$lesson" | sed 's/^/  /'
else
    echo "FAIL: lesson-27 --quick did not show four identical runs and the heap's statistics:" >&2
    tail -20 "$lesson" >&2
    fail=1
fi

if ((fail)); then
    echo "preload.sh: FAILED (see above)" >&2
    exit 1
fi
echo "preload.sh: every program's output matched glibc's on every allocator"
