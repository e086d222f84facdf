#!/usr/bin/env bash
# A tour of the faulty network: for each fault the server can inject and each
# haproxy mode, one run of a naive client and one of a client with the policy
# that copes, side by side. Only four lines of each summary are printed
# (requests, gave up, attempts, elapsed); run a client line by hand to see
# all of it, and every attempt.
#
# Settings: PROXY_PORT (8081), SERVER_PORT (8080), RUN_DIR (./run), and
# ONLY=name to run one scenario (fail, reset, hang, slow, latency, outage,
# http, queue).
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
ONLY=${ONLY:-}

run_client() { # label, client flags...
    local label=$1
    shift
    printf '\n$ client %s\n' "$*"
    "$client" --url "$url" --seed 7 "$@" 2>/dev/null | grep -E '^(requests|gave up|attempts|elapsed):'

    # Let haproxy's one-second window forget this run before the next.
    sleep 2
}

wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

heading() { printf '\n=== %s\n' "$*"; }

lab_build

if wanted fail; then
    heading "fail: 30% of requests answered 503 with Retry-After: 1"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --request-duration 100ms --fail-rate 0.3 --fail-status 503 --retry-after 1
    run_client naive -n 20
    run_client right -n 20 --retry
fi

if wanted reset; then
    heading "reset: 20% of connections reset without an answer"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --request-duration 100ms --reset-rate 0.2
    run_client naive -n 20
    run_client right -n 20 --retry --retry-wait-min 100ms --retry-wait-max 1s
fi

if wanted hang; then
    heading "hang: 10% of requests never answered"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --request-duration 100ms --hang-rate 0.1 --hang-limit 30s
    run_client naive -n 20
    run_client right -n 20 --timeout 1s --retry --retry-wait-min 100ms --retry-wait-max 1s
fi

if wanted slow; then
    heading "slow body: 20% of answers dribble their body over 5 s"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --request-duration 100ms --slow-body-rate 0.2 --slow-body-time 5s
    run_client naive -n 20
    run_client right -n 20 --timeout 1s --retry --retry-wait-min 100ms --retry-wait-max 1s
fi

if wanted latency; then
    heading "latency: normal:300ms,100ms instead of a fixed time"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --latency normal:300ms,100ms
    run_client naive -n 20 --timeout 300ms
    run_client right -n 20 --timeout 1s
fi

if wanted outage; then
    heading "outage: every request answered 503 from 1 s to 4 s after the server starts"
    start_haproxy MODE=tcp RATE_LIMIT=1000
    start_server --seed 1 --request-duration 50ms --outage 1s..4s
    run_client naive -n 30 --rate 10
    start_server --seed 1 --request-duration 50ms --outage 1s..4s
    run_client right -n 30 --rate 10 --retry --backoff exponential --jitter full \
        --retry-wait-min 500ms --retry-wait-max 4s --max-retries 5 --max-elapsed 15s
fi

if wanted http; then
    heading "haproxy http mode: over 5 requests a second per source, 429 with Retry-After: 1"
    start_haproxy MODE=http RATE_LIMIT=5
    start_server --seed 1 --request-duration 50ms
    run_client naive -n 20
    run_client retry -n 20 --retry
    run_client rate -n 20 --rate 4.5
fi

if wanted queue; then
    heading "haproxy queue mode: 2 requests at the server at once, 500 ms in the queue at most, then 503"
    start_haproxy MODE=queue MAX_CONN=2 QUEUE_TIMEOUT=500ms
    start_server --seed 1 --request-duration 200ms
    run_client naive -n 20
    run_client retry -n 20 --retry --retry-wait-min 200ms --retry-wait-max 2s
    run_client limited -n 20 --max-concurrency 2
fi
