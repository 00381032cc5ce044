#!/bin/sh
# Runs the whole test suite: installs what the tests need (Debian packages),
# builds every binary, then runs every test of the workspace, and ends with
# the number of tests that skipped.
#
# Run as root, every test must run: RELAYD_E2E_REQUIRED=1 turns each skip
# (no root, no network namespace, a missing tool) into a failure, so the
# suite cannot pass by skipping. Without root the tests that need it skip
# and are listed at the end.
set -eu
cd "$(dirname "$0")/.."

# Every program a test runs, with the Debian package that has it.
need=""
want() {
    command -v "$1" >/dev/null 2>&1 || need="$need $2"
}
want ip iproute2
want nft nftables
want sysctl procps
want mandoc mandoc
want systemd-analyze systemd
want openssl openssl
want curl curl
want unbound unbound
want dig bind9-dnsutils
want python3 python3
want sha1sum coreutils
want promtool prometheus
want prometheus prometheus
want keepalived keepalived
want unshare util-linux
want mount mount
want useradd passwd
want groupadd passwd
want userdel passwd
want groupdel passwd
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $(printf '%s\n' $need | sort -u) >/dev/null
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
    export RELAYD_E2E_REQUIRED="${RELAYD_E2E_REQUIRED:-1}"
fi
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }

# Each skip appends a line here (tests/support/require.rs).
RELAYD_E2E_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/relayd-skips.XXXXXX")
export RELAYD_E2E_SKIP_LOG
trap 'rm -f "$RELAYD_E2E_SKIP_LOG"' EXIT

cargo build --workspace --all-targets
status=0
cargo test --workspace --no-fail-fast -- --test-threads="${RELAYD_TEST_THREADS:-2}" || status=$?

skipped=$(wc -l <"$RELAYD_E2E_SKIP_LOG")
echo "test.sh: $skipped skipped"
sed 's/^/    SKIPPED /' "$RELAYD_E2E_SKIP_LOG"
exit "$status"
