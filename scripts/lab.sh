# Sourced by the scripts that run the lab end to end (demo, edge, faults,
# storm, compare): the shared settings, the build, and a test server in the
# background that is stopped, with haproxy, however the script ends.
#
# Settings: PROXY_PORT (8081), SERVER_PORT (8080), RUN_DIR (./run).

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
export PROXY_PORT=${PROXY_PORT-8081}
export SERVER_PORT=${SERVER_PORT-8080}
export RUN_DIR=${RUN_DIR:-$root/run}
client="$root/target/release/client"
server="$root/target/release/server"
url="http://127.0.0.1:$PROXY_PORT/"

say() { printf '%s\n' "$*"; }

lab_build() {
    cargo build --release --quiet --bins || exit 1
    mkdir -p "$RUN_DIR" || exit 1
}

server_pid=
server_log="$RUN_DIR/server.log"

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
}

lab_cleanup() {
    stop_server
    scripts/haproxy.sh stop >/dev/null
}
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

# Starts the server with the flags given (after stopping one this script
# started before) and waits until it listens. A bad flag or a busy port ends
# the script with the server's own line and exit status 2. In docker,
# haproxy reaches the server beyond loopback, so it listens on all addresses.
start_server() { # server flags...
    stop_server
    local bind=127.0.0.1
    docker info >/dev/null 2>&1 && bind=0.0.0.0
    "$server" --addr "$bind:$SERVER_PORT" "$@" >"$server_log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q "Running server at" "$server_log" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    say "The server did not start: $(tail -n 1 "$server_log")"
    exit 2
}

# Starts haproxy with the settings given as NAME=value (on top of the
# environment), quietly.
start_haproxy() { # settings...
    env "$@" scripts/haproxy.sh start >/dev/null || exit $?
}
