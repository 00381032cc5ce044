#!/bin/sh
# The main job, end to end: build, start two demo backends, start relayd in
# the foreground with etc/demo.conf, show `relayctl show summary`, send a few
# requests through the relay to show them spread over both backends, stop
# everything. Needs root (relayd chroots and drops to _relayd).
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: relayd needs root (chroot, setuid _relayd); run: sudo $0" >&2
    exit 1
fi
[ -d /var/empty ] || mkdir -p /var/empty
id _relayd >/dev/null 2>&1 ||
    useradd --system --home-dir /var/empty --shell /usr/sbin/nologin _relayd

cargo build --release --workspace
bin="${CARGO_TARGET_DIR:-target}/release"
sock=/tmp/relayd-demo.sock
pids=""
stop() {
    # Stop exactly the processes this script started, by pid.
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM

"$bin/relayd-demo-backend" serve 127.0.0.2:9001 backend-a & pids="$pids $!"
"$bin/relayd-demo-backend" serve 127.0.0.3:9001 backend-b & pids="$pids $!"
"$bin/relayd" -d -f etc/demo.conf & pids="$pids $!"

# Wait (bounded) until both hosts are checked up.
i=0
until "$bin/relayctl" -s "$sock" show hosts 2>/dev/null | grep -c '\bup\b' | grep -q '^2$'; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "demo.sh: backends not up after 10 s" >&2
        "$bin/relayctl" -s "$sock" show hosts >&2 || true
        exit 1
    fi
    sleep 0.1
done

echo "== relayctl show summary"
"$bin/relayctl" -s "$sock" show summary
echo "== six requests through the relay on 127.0.0.1:8080"
"$bin/relayd-demo-backend" get 127.0.0.1:8080 6
echo "== stopping"
