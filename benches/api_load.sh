#!/usr/bin/env bash
# API read latency under load (SPEC §12: p99 ≤ 5 ms at 500 requests/s on loopback).
#
# Starts the release daemon on a fresh project with the shipped scripts at 600× simulated time,
# lets it trade for WARMUP_SECONDS so runs, orders and signals accumulate, and then measures each
# main read endpoint twice with wrk (Debian's package), offering about 500 requests/s for
# RATE_SECONDS and printing the achieved rate and p50/p99/max:
#   - busy: while the daemon keeps running its flows at 600× (ten simulated minutes a second,
#     sharing the machine's cores with the API and wrk);
#   - steady: after a restart on the same database at real-time speed, as in production.
# `bash benches/api_load.sh` after `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradehost-target}"
binary="$CARGO_TARGET_DIR/release/tradehost"
seconds="${RATE_SECONDS:-15}"
warmup="${WARMUP_SECONDS:-30}"
connections=25
# Each connection waits this long after each reply: 25 connections / (48 ms + ~1 ms reply) ≈ 510
# requests/s offered.
delay_ms=48

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$binary" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }

source tests/support/daemon.sh
key="bench-admin-key-0123456789abcdef"
paths=(/api/v1/health /api/v1/risk /api/v1/positions "/api/v1/orders?limit=50"
    "/api/v1/runs?limit=20" /api/v1/deployments /api/v1/pairs "/api/v1/risk/decisions?limit=50")

rows() {
    curl -s -H "Authorization: Bearer $key" "http://$address$1" |
        python3 -c 'import json,sys; v=json.load(sys.stdin); print(len(v) if isinstance(v,list) else len(v.get("runs", v.get("fills", []))))'
}

measure() {
    echo
    echo "== $1"
    echo "data behind the reads: $(rows /api/v1/orders?limit=500) orders, $(rows '/api/v1/runs?limit=500') runs, $(rows /api/v1/pairs) pairs, $(rows /api/v1/deployments) deployments"
    printf '%-34s %8s %9s %9s %9s %7s %5s\n' "endpoint" "req/s" "p50 ms" "p99 ms" "max ms" "errors" "≤5ms"
    for path in "${paths[@]}"; do
        result="$(API_PATH="$path" API_KEY="$key" API_DELAY_MS="$delay_ms" \
            wrk -t 2 -c "$connections" -d "${seconds}s" --timeout 2s -s benches/api_load.lua \
            "http://$address" | grep '^RESULT')"
        read -r _ endpoint rate p50 p99 max errors _ <<<"$result"
        verdict="$(python3 -c "print('yes' if float('$p99') <= 5.0 else 'NO')")"
        printf '%-34s %8s %9s %9s %9s %7s %5s\n' "$endpoint" "$rate" "$p50" "$p99" "$max" "$errors" "$verdict"
    done
}

start_daemon "$binary" 600 "$key"
echo "daemon at $address; trading for ${warmup}s at 600x before measuring"
sleep "$warmup"
measure "busy: flows running at 600x"

stop_daemon
start_daemon "$binary" 1 "$key"
sleep 3
measure "steady: the same database, real-time speed"
echo
echo "target: p99 <= 5 ms at 500 requests/s (SPEC §12)"
