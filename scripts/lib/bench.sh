# What the scripts/bench-*.sh benchmarks share, sourced (POSIX sh):
# checking what they need, a scratch directory, free ports, and stopping
# by pid everything they started. After `bench_start NAME`, $work is the
# scratch directory and each pid added to $pids is stopped (TERM, then
# KILL) and $work removed when the script ends.

# need_bins DIR NAME...: each NAME built in DIR.
need_bins() {
    _dir=$1
    shift
    for _bin in "$@"; do
        [ -x "$_dir/$_bin" ] || { echo "no $_dir/$_bin: build it first" >&2; exit 1; }
    done
}

# need_tool NAME: NAME on PATH (its Debian package has the same name).
need_tool() {
    command -v "$1" >/dev/null || { echo "$1 is missing (apt-get install $1)" >&2; exit 1; }
}

need_root() {
    [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
}

# bench_start NAME: a new $work (/tmp/relayd-NAME.XXXXXX), an empty $pids,
# and the cleanup on exit.
bench_start() {
    work=$(mktemp -d "/tmp/relayd-$1.XXXXXX")
    pids=""
    trap bench_cleanup EXIT INT TERM HUP
}

bench_cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}

# A TCP port free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
