#!/bin/sh
# Runs the whole test suite: installs what the tests need (Debian packages),
# builds every binary, then runs every test of the workspace.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v mandoc >/dev/null 2>&1 || need="$need mandoc"
command -v ping >/dev/null 2>&1 || need="$need iputils-ping"
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $need >/dev/null
    else
        echo "test.sh: missing$need; some tests will be skipped (run as root to install)" >&2
    fi
fi
# The daemon's children chroot to /var/empty and run as _relayd, as relayd(8).
if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/empty
    getent passwd _relayd >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /var/empty --no-create-home \
            --shell /usr/sbin/nologin _relayd
fi
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${RELAYD_TEST_THREADS:-2}"
