#!/bin/sh
# Issue 15's measurement: wrk against an HTTP relay and a TCP relay while
# relayd changes its configuration (relayctl reload, SIGHUP, a reload that
# adds a relay and removes another, relayctl table add|remove), each
# against the same run without changes. Prints, per run: requests, socket
# errors (connect, read, write, timeout), non-2xx answers and p99 latency;
# then how many "state unknown -> up" lines relayd logged in all (one per
# host means no host flapped). Bounded: every run lasts SECONDS, every
# change loop makes at most CHANGES changes. Needs root, wrk
# (apt-get install wrk) and the release binaries:
#
#   cargo build --release -p relayd -p relayctl -p relayd-demo-backend
#   scripts/bench-reload.sh [BIN_DIR] [SECONDS] [CHANGES]
#
# Everything started here is stopped by pid on exit.
set -eu

. "$(dirname "$0")/lib/bench.sh"
bin_dir=${1:-target/release}
seconds=${2:-10}
changes=${3:-20}
need_bins "$bin_dir" relayd relayctl relayd-demo-backend
need_tool wrk
need_root
bench_start bench-reload

backend=$(free_port)
http_port=$(free_port)
tcp_port=$(free_port)
extra_a=$(free_port)
extra_b=$(free_port)
sock="$work/relayd.sock"
conf="$work/relayd.conf"

# EXTRA: the port of a third relay, which the "relays" runs swap.
write_config() {
    cat > "$conf" <<CONF
socket "$sock"
prefork 2
log state changes
table <web> { 127.0.0.1 }
http protocol p { }
relay www {
	listen on 127.0.0.1 port $http_port
	protocol p
	forward to <web> port $backend check tcp
}
relay tcpr {
	listen on 127.0.0.1 port $tcp_port
	forward to <web> port $backend check tcp
}
relay extra {
	listen on 127.0.0.1 port $1
	forward to <web> port $backend check tcp
}
CONF
}

"$bin_dir/relayd-demo-backend" serve "127.0.0.1:$backend" a >/dev/null 2>&1 & pids="$pids $!"
"$bin_dir/relayd-demo-backend" serve "127.0.0.2:$backend" b >/dev/null 2>&1 & pids="$pids $!"
write_config "$extra_a"
"$bin_dir/relayd" -d -f "$conf" > "$work/relayd.log" 2>&1 & relayd_pid=$!
pids="$pids $relayd_pid"
i=0
until "$bin_dir/relayctl" -s "$sock" show hosts 2>/dev/null | grep -qw up; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "relayd not up after 10 s:" >&2; cat "$work/relayd.log" >&2; exit 1; }
    sleep 0.1
done
ctl() { "$bin_dir/relayctl" -s "$sock" "$@" >/dev/null 2>&1 || echo "relayctl $* failed" >&2; }
table=$("$bin_dir/relayctl" -s "$sock" show summary | awk '$2 == "table" { print $3; exit }')

# One kind of change, CHANGES times over the run (table: CHANGES pairs).
change_loop() {
    pause=$(python3 -c "print($seconds / ($changes + 1))")
    n=0
    while [ "$n" -lt "$changes" ]; do
        sleep "$pause"
        case $1 in
        reload) ctl reload ;;
        sighup) kill -HUP "$relayd_pid" ;;
        relays)
            if [ $((n % 2)) = 0 ]; then write_config "$extra_b"; else write_config "$extra_a"; fi
            ctl reload ;;
        table) ctl table add "$table" 127.0.0.2; ctl table remove "$table" 127.0.0.2 ;;
        esac
        n=$((n + 1))
    done
}

# wrk's figures on one line.
summary() {
    awk '
        / requests in / { requests = $1 }
        /Socket errors/ { gsub(",", ""); errors = "connect " $4 " read " $6 " write " $8 " timeout " $10 }
        /Non-2xx/ { non2xx = $5 }
        /^ +99%/ { p99 = $2 }
        END {
            if (errors == "") errors = "connect 0 read 0 write 0 timeout 0"
            printf "requests %s, errors: %s, non-2xx %d, p99 %s\n", requests, errors, non2xx, p99
        }' "$1"
}

run() { # NAME PORT HEADER CHANGE
    out="$work/wrk.out"
    if [ "$4" != quiet ]; then change_loop "$4" & loop=$!; fi
    if [ -n "$3" ]; then
        wrk -t2 -c50 -d"${seconds}s" --latency -H "$3" "http://127.0.0.1:$2/" > "$out" 2>&1 || true
    else
        wrk -t2 -c50 -d"${seconds}s" --latency "http://127.0.0.1:$2/" > "$out" 2>&1 || true
    fi
    if [ "$4" != quiet ]; then wait "$loop" || true; fi
    printf '%-26s %-7s %s\n' "$1" "$4" "$(summary "$out")"
}

echo "wrk -t2 -c50 -d${seconds}s; $changes changes per run (table: $changes add+remove pairs)"
for change in quiet reload sighup relays table; do
    run "http keep-alive" "$http_port" "" "$change"
    run "http connection-per-request" "$http_port" "Connection: close" "$change"
    run "tcp connection-per-request" "$tcp_port" "Connection: close" "$change"
done
echo "state unknown -> up lines logged: $(grep -c 'state unknown -> up' "$work/relayd.log" || true) (hosts: 127.0.0.1 once, 127.0.0.2 once per table add)"
