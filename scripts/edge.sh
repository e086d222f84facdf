#!/usr/bin/env bash
# Measures what happens right at haproxy's limit: how many of 30 connections
# are rejected when a client starts them
#   - evenly spaced at exactly RATE_LIMIT a second (three runs),
#   - evenly spaced a little below and a little above it (0.1 a second off),
#   - in bursts of RATE_LIMIT together on each second's tick (ten ticks).
# Each case gets a fresh haproxy window; the server answers at once.
#
# Settings: RATE_LIMIT (3), PROXY_PORT (8081), SERVER_PORT (8080), RUN_DIR.
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
export RATE_LIMIT=${RATE_LIMIT-3}
total=30

lab_build
start_server --request-duration 0
scripts/haproxy.sh start >/dev/null || exit $?

# Resets among the attempts a client printed on stderr.
resets() { grep -c ': err: reset:' || true; }

echo "haproxy RATE_LIMIT=$RATE_LIMIT; $total connections per case"
below=$(awk "BEGIN { print $RATE_LIMIT - 0.1 }")
for run in 1 2 3; do
    sleep 2
    rejected=$("$client" --url "$url" -n "$total" --rate "$RATE_LIMIT" 2>&1 >/dev/null | resets)
    echo "evenly spaced at ${RATE_LIMIT}/s, run $run: $rejected of $total rejected"
done
above=$(awk "BEGIN { print $RATE_LIMIT + 0.1 }")
for rate in "$below" "$above"; do
    sleep 2
    rejected=$("$client" --url "$url" -n "$total" --rate "$rate" 2>&1 >/dev/null | resets)
    echo "evenly spaced at ${rate}/s: $rejected of $total rejected"
done

sleep 2
ticks=$((total / RATE_LIMIT))
log="$RUN_DIR/edge-bursts.log"
: >"$log"
burst_pids=
for _ in $(seq "$ticks"); do
    "$client" --url "$url" -n "$RATE_LIMIT" >/dev/null 2>>"$log" &
    burst_pids="$burst_pids $!"
    sleep 1
done
# shellcheck disable=SC2086 # a list of pids
wait $burst_pids
echo "$RATE_LIMIT together on each second's tick, $ticks ticks: $(resets <"$log") of $((ticks * RATE_LIMIT)) rejected"
