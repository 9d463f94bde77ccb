# Shell helpers for the scripts that drive a real daemon (tests/fuzz/openapi.sh,
# benches/api_load.sh). Source it, then:
#   start_daemon BINARY SPEED KEY [NAME=VALUE ...]
# copies the shipped scripts, strategies and configuration into a fresh project (or, when
# $project is already set, restarts on that project and its database), starts the daemon there
# on a free loopback port with KEY as its admin key, no rate limits and the given extra
# environment, and sets $address, $project and $daemon_log. `stop_daemon` stops it and keeps the
# project; the project is removed on exit.

start_daemon() {
    local binary="$1" speed="$2" key="$3"
    shift 3
    if [ -z "${project:-}" ]; then
        project="$(mktemp -d)"
        cp -r scripts strategies config "$project/"
    fi
    daemon_log="$project/daemon.log"
    env "$@" TRADEHOST_ADMIN_KEY="$key" TRADEHOST_SERVER__RATE_LIMIT_PER_SECOND=1000000 \
        TRADEHOST_SERVER__RATE_LIMIT_BURST=1000000 \
        "$binary" --root "$project" --log-format json run --bind 127.0.0.1:0 --speed "$speed" \
        2>"$daemon_log" &
    daemon_pid=$!
    trap remove_project EXIT
    address=""
    for _ in $(seq 1 240); do
        address="$(grep -o '"address":"127.0.0.1:[0-9]*"' "$daemon_log" | head -1 | cut -d'"' -f4 || true)"
        [ -n "$address" ] && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.5
    done
    echo "FAIL: the daemon did not start; its log:" >&2
    cat "$daemon_log" >&2
    exit 1
}

stop_daemon() {
    if [ -n "${daemon_pid:-}" ]; then
        kill -INT "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=""
    fi
}

remove_project() {
    stop_daemon
    if [ -n "${project:-}" ]; then rm -rf "$project"; fi
}
