#!/usr/bin/env bash
# Compare mode end to end: haproxy and the server as in the demo, then
# `client compare` with the limits it runs against, so its table can score
# every strategy against the ideal; teardown however it ends.
#
# Settings: RATE_LIMIT (3), REQUEST_DURATION (2), N (10 requests per
# strategy), STRATEGIES (a TOML file; the six built-in strategies if unset),
# TIMELINES (a folder for one SVG per strategy), ARGS (more compare flags),
# PROXY_PORT, SERVER_PORT, RUN_DIR.
set -u

# shellcheck source=scripts/lab.sh
source "$(dirname "$0")/lab.sh"
export RATE_LIMIT=${RATE_LIMIT-3}
REQUEST_DURATION=${REQUEST_DURATION-2}
N=${N:-10}
STRATEGIES=${STRATEGIES:-}
TIMELINES=${TIMELINES:-}
ARGS=${ARGS:-}

lab_build
start_server --request-duration "$REQUEST_DURATION"
scripts/haproxy.sh start >/dev/null || exit $?

flags=(-n "$N" --url "$url" --expect-rate "$RATE_LIMIT" --expect-duration "$REQUEST_DURATION")
[ -n "$STRATEGIES" ] && flags+=(--strategies "$STRATEGIES")
[ -n "$TIMELINES" ] && flags+=(--timeline-dir "$TIMELINES")
say "\$ client compare ${flags[*]} $ARGS"
# shellcheck disable=SC2086 # ARGS is a list of flags
"$client" compare "${flags[@]}" $ARGS
