#!/usr/bin/env bash
# Opens a built chapter in headless Chromium and checks what a reader would
# see: the interactive G/M/P timeline drew its SVG from the recorded trace,
# and the offline search box is there and answers a query from its index.
# Then one Chromium loads several pages one after another, and the course
# server's counters (GET /__course/stats: connections accepted, requests,
# requests on a reused connection) show that it kept its connections alive:
# the book is served by the fast engine on the course runtime.
#
# Chromium runs as root in CI, hence --no-sandbox; with no outside network it
# also needs the background services switched off and a fresh profile, or it
# stalls on refused connections. Needs only bash, curl and coreutils besides.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/target/browser
mkdir -p "$OUT"
: >"$OUT/chromium.log"

fail() { echo "browser check FAILED: $*" >&2; exit 1; }

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium ..."
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
command -v curl >/dev/null || fail "curl is needed to wait for the server"

echo "building course and the book ..."
cargo build --quiet --bin course
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
COURSE=$TARGET_DIR/debug/course
[ -x "$COURSE" ] || fail "no course binary at $COURSE"
"$COURSE" build

PROFILES=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$PROFILES"' EXIT

# Serve on a free port: try a few random high ports; course refuses a taken one.
for _ in 1 2 3 4 5; do
  PORT=$((20000 + RANDOM % 30000))
  "$COURSE" --port "$PORT" >"$OUT/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break 2
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.5
  done
  grep -q "is taken" "$OUT/server.log" || { cat "$OUT/server.log" >&2; fail "course did not start serving"; }
  SERVER=
done
BASE=http://127.0.0.1:$PORT
curl -sf -o /dev/null "$BASE/" || fail "course did not answer on $BASE"
echo "course is serving on $BASE"

# Each run gets a fresh profile, so no run waits on another's profile lock.
chrome() {
  local profile
  profile=$(mktemp -d -p "$PROFILES")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=10000 "$@" 2>>"$OUT/chromium.log"
}

PAGE=$BASE/runtime/gmp.html
chrome --window-size=1280,1000 --dump-dom "$PAGE" >"$OUT/gmp.dom.html" \
  || fail "chromium could not load $PAGE (exit $?; see $OUT/chromium.log)"
chrome --window-size=1280,1000 --dump-dom "$PAGE?search=scheduler" >"$OUT/gmp-search.dom.html" \
  || fail "chromium could not load $PAGE?search=scheduler (see $OUT/chromium.log)"
# A tall window, so that the whole section, timeline included, is in the picture.
chrome --window-size=1280,4200 --screenshot="$OUT/gmp.png" "$PAGE" >/dev/null \
  || fail "chromium could not take a screenshot (see $OUT/chromium.log)"

problems=0
problem() { echo "FAILED: $*" >&2; problems=$((problems + 1)); }

DOM=$OUT/gmp.dom.html
TAG=$(grep -o '<div class="gmp-timeline[^"]*"[^>]*>' "$DOM" | head -n 1 || true)
if [ -z "$TAG" ]; then
  problem 'runtime/gmp.html has no <div class="gmp-timeline" data-trace="..."> (the G/M/P section must embed it)'
else
  echo "timeline div: $TAG"
  # The drawing is built by script, so it sits on one line of the dump.
  SVG=$(grep -o '<svg class="gmp-svg".*' "$DOM" | head -n 1 | sed 's#</svg>.*#</svg>#' || true)
  BARS=$(printf '%s' "$SVG" | grep -o '<rect [^>]*class="gmp-bar gmp-g' | wc -l)
  ROWS=$(printf '%s' "$SVG" | grep -o 'class="gmp-label"[^>]*>[^<]*' | sed 's/.*>//' | tr '\n' ' ')
  SVG_STATE=absent
  [ -n "$SVG" ] && SVG_STATE=present
  echo "timeline svg: $SVG_STATE; rows: ${ROWS:-none}; G bars drawn: $BARS"
  case "$TAG" in
    *'data-rendered="true"'*) ;;
    *) problem "the timeline did not render: $(grep -o 'Could not draw the timeline[^<]*' "$DOM" || echo 'no data-rendered="true"')" ;;
  esac
  [ -n "$SVG" ] && [ "$BARS" -gt 0 ] || problem "the timeline drew no SVG with G bars"
fi

if grep -q 'id="mdbook-searchbar"' "$DOM"; then echo "search box: present (#mdbook-searchbar)"; else problem "no search box (#mdbook-searchbar) on the page"; fi
SEARCH=$OUT/gmp-search.dom.html
INDEX=$(grep -o '<script[^>]*src="[^"]*searchindex[^"]*"' "$SEARCH" | grep -o 'searchindex[^"]*' | head -n 1 || true)
HEADER=$(grep -o 'id="mdbook-searchresults-header"[^>]*>[^<]*' "$SEARCH" | sed 's/.*>//' || true)
echo "search index loaded: ${INDEX:-no}; results header: ${HEADER:-none}"
[ -n "$INDEX" ] || problem "opening search did not load the search index"
case "$HEADER" in
  [1-9]*" search result"*) ;;
  *) problem "a search for 'scheduler' found nothing" ;;
esac

[ -s "$OUT/gmp.png" ] || problem "no screenshot at $OUT/gmp.png"

# Several pages in one browser: a page of ours, written into the served
# directory after the build, walks an iframe through book pages one at a
# time and lists the title of each as it loads.
PAGES=(index.html runtime/gmp.html runtime/netpoll.html runtime/channels.html load-testing/server-and-loadgen.html getting-started/toolchain.html)
BOOK_DIR=$TARGET_DIR/book
[ -f "$BOOK_DIR/index.html" ] || fail "no built book at $BOOK_DIR"
LIST=$(printf '"%s",' "${PAGES[@]}")
cat >"$BOOK_DIR/__keepalive.html" <<HTML
<!doctype html><meta charset="utf-8"><title>keep-alive check</title>
<ol id="loaded"></ol><iframe id="f" width="1000" height="600"></iframe>
<script>
const pages = [${LIST%,}];
const f = document.getElementById("f"), list = document.getElementById("loaded");
let i = 0;
f.onload = () => {
  const li = document.createElement("li");
  li.className = "page";
  li.textContent = pages[i] + " :: " + f.contentDocument.title;
  list.appendChild(li);
  if (++i < pages.length) f.src = pages[i]; else document.body.dataset.done = "true";
};
f.src = pages[0];
</script>
HTML
stat() { curl -sf "$BASE/__course/stats" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
C0=$(stat connections) R0=$(stat requests) U0=$(stat reused)
chrome --window-size=1280,1000 --dump-dom "$BASE/__keepalive.html" >"$OUT/keepalive.dom.html" \
  || problem "chromium could not load the keep-alive page (see $OUT/chromium.log)"
C1=$(stat connections) R1=$(stat requests) U1=$(stat reused)
rm -f "$BOOK_DIR/__keepalive.html"
# Each stats query is a connection of its own and is not counted as a request.
CONNS=$((C1 - C0 - 1)) REQS=$((R1 - R0)) REUSED=$((U1 - U0))
LOADED=$(grep -o '<li class="page">[^<]*' "$OUT/keepalive.dom.html" | wc -l)
grep -o '<li class="page">[^<]*' "$OUT/keepalive.dom.html" | sed 's/.*">/  loaded: /'
echo "keep-alive: $LOADED of ${#PAGES[@]} pages, $REQS requests over $CONNS connections ($REUSED requests on a reused connection)"
[ "$LOADED" -eq "${#PAGES[@]}" ] || problem "only $LOADED of ${#PAGES[@]} pages loaded in one browser"
# Without keep-alive every request would need a connection of its own.
[ "$REUSED" -gt 0 ] && [ $((2 * CONNS)) -le "$REQS" ] \
  || problem "connections were not kept alive: $REQS requests over $CONNS connections"
[ "$problems" -eq 0 ] || fail "$problems problem(s); the pages are in $OUT"
echo "screenshot: $OUT/gmp.png"
echo "browser check passed"
