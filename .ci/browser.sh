#!/usr/bin/env bash
# Opens a built chapter in headless Chromium and checks what a reader would
# see: the interactive G/M/P timeline drew its SVG from the recorded trace,
# and the offline search box is there and answers a query from its index.
#
# Chromium runs as root in CI, hence --no-sandbox; with no outside network it
# also needs the background services switched off and a fresh profile, or it
# stalls on refused connections.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/browser
mkdir -p "$OUT"

fail() { echo "browser check FAILED: $*" >&2; exit 1; }

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium ..."
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
command -v curl >/dev/null || fail "curl is needed to wait for the server"

echo "building course and the book ..."
cargo build --quiet --bin course
COURSE=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/course
[ -x "$COURSE" ] || fail "no course binary at $COURSE"
"$COURSE" build

# A free port: ask the kernel for one, then let course bind it.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 3917)
"$COURSE" --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER=$!
PROFILES=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$PROFILES"' EXIT

BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 120); do
  curl -sf -o /dev/null "$BASE/" && break
  kill -0 $SERVER 2>/dev/null || { cat "$OUT/server.log" >&2; fail "course exited before serving"; }
  sleep 0.5
done
curl -sf -o /dev/null "$BASE/" || fail "course did not answer on $BASE within 60 s"
echo "course is serving on $BASE"

# Each run gets a fresh profile, so no run waits on another's profile lock.
chrome() {
  local profile
  profile=$(mktemp -d -p "$PROFILES")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=10000 --window-size=1280,1000 "$@" 2>>"$OUT/chromium.log"
}

PAGE=$BASE/runtime/gmp.html
chrome --dump-dom "$PAGE" >"$OUT/gmp.dom.html" || fail "chromium could not load $PAGE (exit $?; see $OUT/chromium.log)"
chrome --dump-dom "$PAGE?search=scheduler" >"$OUT/gmp-search.dom.html" || fail "chromium could not load $PAGE?search=scheduler"
# A tall window, so that the whole section, timeline included, is in the picture.
chrome --window-size=1280,4200 --screenshot="$OUT/gmp.png" "$PAGE" >/dev/null || fail "chromium could not take a screenshot"

python3 - "$OUT" <<'PY'
import re, sys
out = sys.argv[1]
dom = open(f"{out}/gmp.dom.html", encoding="utf-8").read()
search = open(f"{out}/gmp-search.dom.html", encoding="utf-8").read()
problems = []

m = re.search(r'<div class="gmp-timeline[^"]*"[^>]*>', dom)
if not m:
    problems.append('runtime/gmp.html has no <div class="gmp-timeline" data-trace="..."> (the G/M/P section must embed it)')
else:
    tag = m.group(0)
    trace = re.search(r'data-trace="([^"]*)"', tag)
    state = re.search(r'data-rendered="([^"]*)"', tag)
    print(f"timeline div: data-trace={trace.group(1) if trace else None!r} data-rendered={state.group(1) if state else None!r}")
    rest = dom[m.end():]
    svg = re.search(r'<svg class="gmp-svg"[^>]*>', rest)
    bars = len(re.findall(r'<rect [^>]*class="gmp-bar gmp-g', rest))
    rows = re.findall(r'<text [^>]*class="gmp-label"[^>]*>([^<]*)</text>', rest)
    print(f"timeline svg: {'present' if svg else 'absent'}, rows {rows}, {bars} G bars drawn")
    if not state or state.group(1) != "true":
        err = re.search(r'Could not draw the timeline[^<]*', rest)
        problems.append("the timeline did not render" + (f": {err.group(0)}" if err else ""))
    if not svg or bars == 0:
        problems.append("the timeline drew no SVG with G bars")

bar = re.search(r'<input[^>]*id="(mdbook-)?searchbar"[^>]*>', dom)
print(f"search box: {'present' if bar else 'absent'}")
if not bar:
    problems.append("no search box (#mdbook-searchbar) on the page")
idx = re.search(r'<script[^>]*src="([^"]*searchindex[^"]*)"[^>]*>', search)
header = re.search(r'id="mdbook-searchresults-header"[^>]*>([^<]*)<', search)
print(f"search index script: {idx.group(1) if idx else 'not loaded'}; results header: {header.group(1).strip() if header else None!r}")
if not idx:
    problems.append("opening search did not load the search index")
if not header or not re.search(r"\d+ search results?", header.group(1)) or header.group(1).strip().startswith("0 "):
    problems.append("a search for 'scheduler' found nothing")

if problems:
    for p in problems:
        print("FAILED:", p, file=sys.stderr)
    sys.exit(1)
PY
[ -s "$OUT/gmp.png" ] || fail "no screenshot at $OUT/gmp.png"
echo "screenshot: $OUT/gmp.png"
echo "browser check passed"
