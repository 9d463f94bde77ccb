#!/usr/bin/env bash
# API read latency under load (SPEC §12: p99 ≤ 5 ms at 500 requests/s on loopback).
#
# Starts the release daemon on a fresh project with the shipped scripts and simulated time (so
# runs, orders and signals accumulate while it is measured), lets it trade for a while, then
# offers each main read endpoint 500 requests/s for RATE_SECONDS with wrk (Debian's package) and
# prints p50/p99/max per endpoint. `bash benches/api_load.sh` after `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradehost-target}"
binary="$CARGO_TARGET_DIR/release/tradehost"
seconds="${RATE_SECONDS:-15}"
warmup="${WARMUP_SECONDS:-30}"
connections=25
# Each connection waits this long between requests: 25 connections × 1000/50 ms = 500 requests/s.
delay_ms=50

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$binary" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }

source tests/support/daemon.sh
key="bench-admin-key-0123456789abcdef"
start_daemon "$binary" 600 "$key"
echo "daemon at $address; trading for ${warmup}s at 600x before measuring"
sleep "$warmup"
rows() { curl -s -H "Authorization: Bearer $key" "http://$address$1" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(len(v) if isinstance(v,list) else len(v.get("runs", v.get("fills", []))))'; }
echo "data behind the reads: $(rows /api/v1/orders?limit=100) orders, $(rows '/api/v1/runs?limit=100') runs, $(rows /api/v1/pairs) pairs, $(rows /api/v1/deployments) deployments"

printf '\n%-34s %8s %9s %9s %9s %7s\n' "endpoint" "req/s" "p50 ms" "p99 ms" "max ms" "errors"
for path in /api/v1/health /api/v1/risk /api/v1/positions "/api/v1/orders?limit=50" \
    "/api/v1/runs?limit=20" /api/v1/deployments /api/v1/pairs "/api/v1/risk/decisions?limit=50"; do
    result="$(API_PATH="$path" API_KEY="$key" API_DELAY_MS="$delay_ms" \
        wrk -t 2 -c "$connections" -d "${seconds}s" --timeout 2s -s benches/api_load.lua \
        "http://$address" | grep '^RESULT')"
    read -r _ endpoint rate p50 p99 max errors requests <<<"$result"
    printf '%-34s %8s %9s %9s %9s %7s\n' "$endpoint" "$rate" "$p50" "$p99" "$max" "$errors"
done
echo
echo "target: p99 <= 5 ms at 500 requests/s (SPEC §12)"
