#!/bin/sh
# The project's own benchmark of the relay's TCP path: iperf3 through a
# `forward to` relay versus iperf3 direct, on 127.0.0.1, one stream each
# way. Prints Gbit/s and the ratio. Needs root (relayd drops privileges to
# _relayd in /var/empty: scripts/test.sh creates both) and iperf3.
#
#   scripts/bench-tcp.sh [BIN_DIR] [SECONDS]
#
# BIN_DIR defaults to target/release (build it with
# `cargo build --release -p relayd -p relayctl`). Everything started here
# is stopped by pid on exit.
set -eu

. "$(dirname "$0")/lib/bench.sh"
bin_dir=${1:-target/release}
seconds=${2:-5}
relayd="$bin_dir/relayd"
need_bins "$bin_dir" relayd
need_tool iperf3
need_root
bench_start bench-tcp

server_port=$(free_port)
relay_port=$(free_port)

# Pinning as the shared relay-bench does: relay on CPU 0, load on CPU 1.
pin_relay="" pin_load=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_relay="taskset -c 0" pin_load="taskset -c 1"
fi

$pin_load iperf3 -s -p "$server_port" -1 >/dev/null 2>&1 &
pids="$pids $!"
cat >"$work/relayd.conf" <<CONF
socket "$work/relayd.sock"
prefork 1
relay tcpbench {
	listen on 127.0.0.1 port $relay_port
	forward to 127.0.0.1 port $server_port
}
CONF
$pin_relay "$relayd" -d -f "$work/relayd.conf" >"$work/relayd.log" 2>&1 &
pids="$pids $!"
sleep 1

measure() { # PORT [iperf3 options]: Gbit/s of one run
    port=$1; shift
    $pin_load iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" -J "$@" >"$work/run.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$work/run.json"
}

through=$(measure "$relay_port")
$pin_load iperf3 -s -p "$server_port" -1 >/dev/null 2>&1 &
pids="$pids $!"
sleep 0.3
reverse=$(measure "$relay_port" -R)
$pin_load iperf3 -s -p "$server_port" -1 >/dev/null 2>&1 &
pids="$pids $!"
sleep 0.3
direct=$(measure "$server_port")

echo "direct:           $direct Gbit/s"
echo "through relayd:   $through Gbit/s (client -> server)"
echo "through relayd:   $reverse Gbit/s (server -> client, -R)"
python3 -c "import sys; d,t=float(sys.argv[1]),float(sys.argv[2]); print('relayd/direct:    %.2f' % (t/d if d else 0))" "$direct" "$through"
