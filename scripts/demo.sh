#!/usr/bin/env bash
# The exploration, end to end: haproxy allowing RATE_LIMIT connections a second
# in front of a server that takes REQUEST_DURATION a request, then one client
# run per scenario. Tears everything down on the way out, failure or not.
#
# Settings (all optional): RATE_LIMIT (3), PROXY_PORT (8081), SERVER_PORT
# (8080), REQUEST_DURATION (2), RUN_DIR (./run). The scenarios' expectations
# hold for the defaults.
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
export RATE_LIMIT=${RATE_LIMIT-3}
REQUEST_DURATION=${REQUEST_DURATION-2}
# Two full periods of haproxy's one-second window: by then it has forgotten
# every connection of the scenario before.
window_pause=2

echo "Building..."
lab_build

say ""
case "$REQUEST_DURATION" in *[!0-9.]*) shown=$REQUEST_DURATION ;; *) shown="${REQUEST_DURATION}s" ;; esac
say "== Setup: haproxy at RATE_LIMIT=$RATE_LIMIT, server taking $shown per request"
# The server first, so a bad REQUEST_DURATION or a busy port stops the demo
# before haproxy starts.
start_server --request-duration "$REQUEST_DURATION"
scripts/haproxy.sh start || exit $?
say "$(grep -m 1 "Running server at" "$server_log") (log: $server_log)"

failures=0
# scenario TITLE EXPECTED_STATUS EXPECTATION CLIENT_FLAGS...
scenario() {
    local title=$1 expected_status=$2 expectation=$3
    shift 3
    say ""
    say "== $title"
    say "   expect: $expectation"
    say "\$ client $*"
    "$client" --url "$url" "$@"
    local status=$?
    if [ "$status" = "$expected_status" ]; then
        say "-> as expected (exit status $status)"
    else
        say "-> NOT as expected: exit status $status, expected $expected_status"
        failures=$((failures + 1))
    fi
}

pause() {
    say ""
    say "(waiting ${window_pause}s for haproxy's rate window to clear)"
    sleep "$window_pause"
}

scenario "1. No limits, 3 requests: within the rate limit" 0 \
    "3 x 200, all answered together after one request duration" \
    --num-requests 3
pause
scenario "2. No limits, 4 requests: one over the rate limit" 1 \
    "3 x 200 and 1 reset: haproxy drops the fourth connection at once" \
    --num-requests 4
pause
scenario "3. Max concurrency 3, 4 requests" 0 \
    "4 x 200: the fourth starts only once one of the first three is answered" \
    --num-requests 4 --max-concurrency 3
pause
scenario "4. No limits, 4 requests, with retry" 0 \
    "4 x 200: the rejected request retries with backoff until haproxy lets it in" \
    --num-requests 4 --retry
pause
scenario "5. Rate 2.9 a second, 6 requests: the rate limit, kept by the client" 0 \
    "6 x 200: starts 345 ms apart never trip haproxy's 3 a second" \
    --num-requests 6 --rate 2.9

say ""
if [ "$failures" = 0 ]; then
    say "All five scenarios behaved as expected."
else
    say "$failures scenario(s) did not behave as expected."
    exit 1
fi
