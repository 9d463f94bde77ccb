#!/usr/bin/env bash
# OpenAPI-driven fuzzing: schemathesis generates requests for every operation in the daemon's own
# /api/openapi.json (valid and invalid bodies, paths and query strings, with the admin key) and
# fails on any 5xx. Run from the repository: `bash tests/fuzz/openapi.sh` (CI runs it).
#
# Needs the tradehost binary built (`cargo build`) and Python 3 with pip (schemathesis is
# installed from PyPI into a virtual environment under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradehost-target}"
binary="$CARGO_TARGET_DIR/debug/tradehost"
examples="${FUZZ_EXAMPLES:-25}"
venv="$HOME/.cache/tradehost-schemathesis"

if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

source tests/support/daemon.sh
key="fuzz-admin-key-$(date +%s)-0123456789"
# A throwaway daemon on the shipped scripts and configuration, on simulated time.
start_daemon "$binary" 60 "$key" TRADEHOST_MARKET__HISTORY_DAYS=0
log="$daemon_log"
# Readiness is honestly 503 until the first bar is stored (the simulated market opens about 30 s
# in at 60x); fuzz a ready daemon, so that a 5xx from any operation, readiness included, is a fault.
code=""
for _ in $(seq 1 240); do
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
        "http://$address/api/v1/health/ready" || true)"
    [ "$code" = 200 ] && break
    sleep 0.5
done
if [ "$code" != 200 ]; then
    echo "FAIL: the daemon was not ready after 120 s (last answer $code); its log:" >&2
    cat "$log" >&2
    exit 1
fi
echo "fuzzing http://$address ($examples examples per operation)"

"$venv/bin/schemathesis" run "http://$address/api/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error \
    --max-examples "$examples" \
    --workers 1 \
    --seed 20261128

if grep -q '"level":"ERROR"' "$log" && grep '"level":"ERROR"' "$log" | grep -q "API request failed inside the daemon"; then
    echo "FAIL: the daemon logged internal errors while fuzzed:" >&2
    grep "API request failed inside the daemon" "$log" >&2
    exit 1
fi
echo "fuzzing found no 5xx"
