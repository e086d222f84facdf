#!/usr/bin/env bash
# Starts and stops the haproxy in front of the test server.
#
#   scripts/haproxy.sh start    start it (restarting what an earlier start left)
#   scripts/haproxy.sh stop     stop exactly what start started, nothing else
#   scripts/haproxy.sh status   say what is running
#
# start runs the official haproxy image in docker when a docker daemon answers,
# else the haproxy binary on PATH in the background. Either way it uses the
# top-level haproxy.cfg as it is; the settings travel as environment variables:
#   MODE         tcp (default), http or queue: see haproxy.cfg
#   RATE_LIMIT   connections (tcp) or requests (http) a second per source (3)
#   MAX_CONN     queue mode: requests the server gets at once (default 2)
#   QUEUE_TIMEOUT  queue mode: how long a request may queue (default 1s)
#   PROXY_PORT   port haproxy listens on, on 127.0.0.1 (default 8081)
#   SERVER_PORT  port the test server listens on (default 8080)
#   RUN_DIR      where the pid file, container name and log go (default ./run)
#   HAPROXY_IMAGE, HAPROXY_CONTAINER   for the docker path
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
config="$root/haproxy.cfg"
MODE=${MODE-tcp}
RATE_LIMIT=${RATE_LIMIT-3}
MAX_CONN=${MAX_CONN-2}
QUEUE_TIMEOUT=${QUEUE_TIMEOUT-1s}
PROXY_PORT=${PROXY_PORT-8081}
SERVER_PORT=${SERVER_PORT-8080}
RUN_DIR=${RUN_DIR:-$root/run}
HAPROXY_IMAGE=${HAPROXY_IMAGE:-haproxy:2.6}
HAPROXY_CONTAINER=${HAPROXY_CONTAINER:-concurrent-http-client-haproxy}
pid_file="$RUN_DIR/haproxy.pid"
container_file="$RUN_DIR/haproxy.container"
log_file="$RUN_DIR/haproxy.log"

die() { # status message
    echo "haproxy: $2" >&2
    exit "$1"
}

# A positive whole number with no sign, spaces or leading zeros, and at most
# nine digits (haproxy reads it as a 32-bit number). Set but empty is refused.
check_positive() { # name value
    case "$2" in
        '' | 0* | *[!0-9]*) die 2 "$1 must be a positive whole number, got '$2'" ;;
    esac
    [ "${#2}" -le 9 ] || die 2 "$1 is too large, got '$2'"
}

check_port() { # name value
    check_positive "$1" "$2"
    [ "${#2}" -le 5 ] && [ "$2" -le 65535 ] || die 2 "$1 must be a port from 1 to 65535, got '$2'"
}

check_mode() {
    case "$MODE" in
        tcp | http | queue) ;;
        *) die 2 "MODE must be tcp, http or queue, got '$MODE'" ;;
    esac
}

# A haproxy time: a whole number with an optional unit (us, ms, s, m, h, d).
check_time() { # name value
    case "$2" in
        '' | *[!0-9a-z]* | [!0-9]*) die 2 "$1 must be a time such as 500ms or 2s, got '$2'" ;;
    esac
    case "${2##*[0-9]}" in
        '' | us | ms | s | m | h | d) ;;
        *) die 2 "$1 must be a time such as 500ms or 2s, got '$2'" ;;
    esac
}

# True when something accepts connections on 127.0.0.1:port.
port_in_use() { # port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

docker_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# The pid in the pid file, if that process is still a haproxy.
our_haproxy_pid() {
    [ -f "$pid_file" ] || return 1
    local pid
    pid=$(cat "$pid_file" 2>/dev/null)
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    case "$(ps -p "$pid" -o comm= 2>/dev/null)" in
        *haproxy*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

stop() {
    local stopped=0 pid name
    if pid=$(our_haproxy_pid); then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        echo "Stopped haproxy (pid $pid)."
        stopped=1
    fi
    rm -f "$pid_file"
    if [ -f "$container_file" ]; then
        name=$(cat "$container_file")
        if [ -n "$name" ] && command -v docker >/dev/null 2>&1; then
            docker rm -f "$name" >/dev/null 2>&1 && echo "Stopped haproxy (container $name)."
            stopped=1
        fi
        rm -f "$container_file"
    fi
    rm -f "$RUN_DIR/haproxy.mode"
    [ "$stopped" = 1 ] || echo "No haproxy of ours was running."
}

start_in_docker() {
    # Inside the container haproxy listens on all its interfaces; docker
    # publishes the port on the host's loopback only. The server is reached on
    # the host through host.docker.internal, which host-gateway maps on Linux.
    docker run --detach --name "$HAPROXY_CONTAINER" \
        --label concurrent-http-client=haproxy \
        --publish "127.0.0.1:$PROXY_PORT:$PROXY_PORT" \
        --add-host host.docker.internal:host-gateway \
        --env "MODE=$MODE" \
        --env "RATE_LIMIT=$RATE_LIMIT" \
        --env "MAX_CONN=$MAX_CONN" \
        --env "QUEUE_TIMEOUT=$QUEUE_TIMEOUT" \
        --env "LISTEN_ADDR=0.0.0.0:$PROXY_PORT" \
        --env "SERVER_ADDR=host.docker.internal:$SERVER_PORT" \
        --volume "$config:/usr/local/etc/haproxy/haproxy.cfg:ro" \
        "$HAPROXY_IMAGE" >"$log_file" 2>&1 ||
        die 1 "docker could not start $HAPROXY_IMAGE: $(tail -n 1 "$log_file")"
    echo "$HAPROXY_CONTAINER" >"$container_file"
    for _ in $(seq 50); do
        [ "$(docker inspect --format '{{.State.Running}}' "$HAPROXY_CONTAINER" 2>/dev/null)" = true ] && break
        sleep 0.1
    done
    [ "$(docker inspect --format '{{.State.Running}}' "$HAPROXY_CONTAINER" 2>/dev/null)" = true ] ||
        die 1 "the haproxy container stopped at once: $(docker logs "$HAPROXY_CONTAINER" 2>&1 | tail -n 1)"
    echo "haproxy running in docker (container $HAPROXY_CONTAINER, $HAPROXY_IMAGE)."
    echo "Note: in docker, run the server on an address the container can reach:"
    echo "      make server SERVER_HOST=0.0.0.0 (make server does this by itself after make setup)."
}

start_native() {
    MODE="$MODE" RATE_LIMIT="$RATE_LIMIT" MAX_CONN="$MAX_CONN" QUEUE_TIMEOUT="$QUEUE_TIMEOUT" \
        LISTEN_ADDR="127.0.0.1:$PROXY_PORT" \
        SERVER_ADDR="127.0.0.1:$SERVER_PORT" \
        haproxy -D -f "$config" -p "$pid_file" >"$log_file" 2>&1 ||
        die 1 "haproxy did not start: $(grep -m 1 ALERT "$log_file" || tail -n 1 "$log_file") (full log: $log_file)"
    echo "haproxy running (pid $(cat "$pid_file"), log $log_file)."
}

start() {
    check_mode
    check_positive RATE_LIMIT "$RATE_LIMIT"
    check_positive MAX_CONN "$MAX_CONN"
    check_time QUEUE_TIMEOUT "$QUEUE_TIMEOUT"
    check_port PROXY_PORT "$PROXY_PORT"
    check_port SERVER_PORT "$SERVER_PORT"
    [ "$PROXY_PORT" != "$SERVER_PORT" ] || die 2 "PROXY_PORT and SERVER_PORT are both $PROXY_PORT"
    mkdir -p "$RUN_DIR" || die 1 "cannot create $RUN_DIR"
    stop >/dev/null
    port_in_use "$PROXY_PORT" && die 2 "port $PROXY_PORT is already in use by another program (pick another: make setup PROXY_PORT=...)"
    if docker_answers; then
        start_in_docker
        echo docker >"$RUN_DIR/haproxy.mode"
    elif command -v haproxy >/dev/null 2>&1; then
        start_native
        echo native >"$RUN_DIR/haproxy.mode"
    else
        die 1 "neither a docker daemon nor a haproxy binary was found. Install haproxy (Debian/Ubuntu: sudo apt-get install haproxy; macOS: brew install haproxy) or start docker."
    fi
    case "$MODE" in
        tcp) limit="at most $RATE_LIMIT connections a second per source, the rest reset" ;;
        http) limit="at most $RATE_LIMIT requests a second per source, the rest answered 429" ;;
        queue) limit="at most $MAX_CONN requests at the server at once, the rest queued up to $QUEUE_TIMEOUT, then 503" ;;
    esac
    echo "Listening on 127.0.0.1:$PROXY_PORT ($MODE mode), forwarding to the server on port $SERVER_PORT: $limit."
    echo "All set."
}

status() {
    local pid
    if pid=$(our_haproxy_pid); then
        echo "haproxy running (pid $pid)."
    elif [ -f "$container_file" ]; then
        echo "haproxy container $(cat "$container_file") was started by setup."
    else
        echo "No haproxy of ours is running."
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die 2 "usage: $0 start|stop|status" ;;
esac
