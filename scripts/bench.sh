#!/usr/bin/env bash
# What threads cost, measured in one run on this machine: the client sends
# N requests to a server that answers at once, at several concurrency
# limits, with and without keep-alive; for each, the run time, requests a
# second, the peak of live threads and of resident memory, and the ratio of
# its throughput to the sequential run's. wrk, when installed, measures the
# server alone first, so the client's numbers can be read against it.
#
# Settings: N (2000), LIMITS ("1 10 50 200"), SERVER_PORT (8080), RUN_DIR.
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
N=${N:-2000}
LIMITS=${LIMITS:-"1 10 50 200"}
target="http://127.0.0.1:$SERVER_PORT/"

lab_build
start_server --request-duration 0 --workers 256

echo "N=$N requests per run, server answering at once, $(nproc) cores"
if command -v wrk >/dev/null 2>&1; then
    rate=$(wrk -t 2 -c 50 -d 5s "$target" 2>/dev/null | awk '/Requests\/sec/ { print $2 }')
    echo "the server alone (wrk, 50 kept-alive connections, 5 s): $rate requests/s"
fi

# peak THREADS RSS_KB of a running pid, sampled every 10 ms until it ends.
peak() { # pid
    local pid=$1 threads=0 rss=0 t r
    while [ -r "/proc/$pid/status" ]; do
        t=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$t" ] && [ "$t" -gt "$threads" ] && threads=$t
        [ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
        sleep 0.01
    done
    echo "$threads $rss"
}

printf '\n%-22s %9s %12s %13s %12s %9s\n' "run" "elapsed" "requests/s" "peak threads" "peak RSS" "vs C=1"
base=
for keep_alive in "" "--keep-alive"; do
    for limit in $LIMITS; do
        report="$RUN_DIR/bench.json"
        start=$(date +%s.%N)
        "$client" -n "$N" --max-concurrency "$limit" $keep_alive --quiet --report json \
            --url "$target" >"$report" 2>/dev/null &
        pid=$!
        read -r threads rss < <(peak "$pid")
        wait "$pid"
        end=$(date +%s.%N)
        elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
        ok=$(grep -o '"succeeded":[0-9]*' "$report" | cut -d: -f2)
        throughput=$(awk -v n="${ok:-0}" -v s="$elapsed" 'BEGIN { printf "%.0f", n / s }')
        [ -z "$base" ] && base=$throughput
        ratio=$(awk -v t="$throughput" -v b="$base" 'BEGIN { printf "%.2fx", t / b }')
        label="C=$limit${keep_alive:+ keep-alive}"
        printf '%-22s %8ss %12s %13s %10s kB %9s\n' "$label" "$elapsed" "$throughput" "$threads" "$rss" "$ratio"
        [ "${ok:-0}" = "$N" ] || echo "  (only ${ok:-0} of $N succeeded)"
    done
done
