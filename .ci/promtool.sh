#!/usr/bin/env bash
# Checks the service's /metrics with Prometheus' own linter: starts a real
# backend and a two-tier frontend on 127.0.0.1, sends them real, tagged and
# failing traffic, scrapes /metrics from both, and runs
# `promtool check metrics` on what they said (exposition format, metric
# types, histogram buckets, naming conventions). Installs Debian's
# `prometheus` package (which carries promtool) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "promtool check FAILED: $*" >&2; exit 1; }

if ! command -v promtool >/dev/null; then
  echo "installing Debian's prometheus (for promtool) ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v curl >/dev/null || fail "curl is needed to drive the service"

cargo build --quiet -p service --features full --bin service  # hyper is behind `full`
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
SERVICE=$TARGET_DIR/debug/service
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

# Starts the service with "$@" on a free port; prints its address.
start() {
  local log=$OUT/service.$RANDOM
  "$SERVICE" --engine full --port 0 "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q '^listening on http://' "$log"; then
      sed -n 's|^listening on http://\([^ ]*\).*|\1|p' "$log"
      return
    fi
    sleep 0.1
  done
  fail "the service did not start: $(cat "$log")"
}

BACK=$(start --store "$OUT/store")
FRONT=$(start --backend "$BACK")
for i in $(seq 20); do
  curl -fsS "http://$FRONT/front?path=/work?us=100" -o /dev/null
  curl -fsS -X PUT --data "v$i" "http://$FRONT/front?path=/store?key=k$i" -o /dev/null
  curl -fsS -X PUT --data "v$i" -H 'x-load-test: promtool' "http://$FRONT/front?path=/store?key=k$i" -o /dev/null
done
curl -sS "http://$BACK/nope" -o /dev/null
curl -sS "http://$FRONT/front?path=nope" -o /dev/null

status=0
for who in BACK FRONT; do
  addr=${!who}
  curl -fsS "http://$addr/metrics" >"$OUT/$who.prom"
  grep -q 'service_request_duration_seconds_bucket{route="/' "$OUT/$who.prom" || fail "$who: no histogram in /metrics"
  echo "promtool check metrics < /metrics of the $(echo "$who" | tr A-Z a-z)end ($(wc -l <"$OUT/$who.prom") lines):"
  if promtool check metrics <"$OUT/$who.prom"; then
    echo "  no problems found"
  else
    status=1
  fi
done
[ "$status" -eq 0 ] || fail "promtool found problems (above)"
echo "promtool: both services' /metrics are valid Prometheus exposition"
