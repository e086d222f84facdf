#!/usr/bin/env bash
# A retry storm: N requests all at once against a server of small capacity
# (haproxy in queue mode: MAX_CONN at the server, a short queue, 503 after),
# retried with exponential backoff, first without jitter and then with full
# jitter, then with full jitter and a retry budget. For each it prints the client's summary and how the attempts were
# spread: the busiest 100 ms, and how many attempts the queue turned away.
#
# Settings: N (200), PROXY_PORT (8081), SERVER_PORT (8080), RUN_DIR (./run).
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
N=${N:-200}

lab_build
start_server --request-duration 100ms
start_haproxy MODE=queue MAX_CONN=5 QUEUE_TIMEOUT=300ms

echo "$N requests at once; haproxy lets 5 at a time reach a server taking 100 ms"
echo "(so at most 50 a second get through), queues the rest for 300 ms, then answers 503."
echo "Retry: up to 8 retries, exponential backoff from 200 ms, doubling, capped at 5 s."

# The busiest 100 ms of retries (first attempts all start together anyway),
# and how many attempts got a 503, read from an events file (JSON lines).
spread() { # events-file
    awk '
        /"attempt":0,/ { first = 1 }
        !/"attempt":0,/ { first = 0 }
        !first && match($0, /"start_ms":[0-9.]+/) {
            start = substr($0, RSTART + 11, RLENGTH - 11)
            bucket = int(start / 100)
            count[bucket]++
            if (count[bucket] > busiest) busiest = count[bucket]
        }
        /"class":"http_503"/ { rejected++ }
        END { printf "busiest 100 ms of retries: %d starts; attempts turned away with 503: %d\n", busiest, rejected }
    ' "$1"
}

storm() { # name, extra client flags...
    local name=$1
    shift
    local events="$RUN_DIR/storm-$name.jsonl"
    echo
    echo "\$ client -n $N --retry --max-retries 8 --backoff exponential --retry-wait-min 200ms --retry-wait-max 5s $*"
    "$client" --url "$url" --seed 7 -n "$N" --retry --max-retries 8 --backoff exponential \
        --retry-wait-min 200ms --retry-wait-max 5s --events "$events" "$@" 2>/dev/null
    spread "$events"
    sleep 1
}

storm no-jitter --jitter none
storm full-jitter --jitter full
storm budget --jitter full --retry-budget 20%
