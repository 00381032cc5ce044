#!/bin/sh
# install.sh: installs relayd, relayctl, their man pages, the systemd unit and
# a starting configuration; `./install.sh uninstall` takes back what it put
# there.
#
# Usage (build first: cargo build --release --workspace):
#   ./install.sh                      install under PREFIX (default /usr/local)
#   ./install.sh uninstall            remove what the last install recorded
#   PREFIX=/usr ./install.sh          install to /usr/sbin, /usr/share/man, ...
#   DESTDIR=/tmp/stage ./install.sh   stage the same tree under /tmp/stage
#
# Where things go:
#   $PREFIX/sbin/relayd, $PREFIX/sbin/relayctl
#   $PREFIX/share/man/man5/relayd.conf.5, $PREFIX/share/man/man8/relayd.8,
#   $PREFIX/share/man/man8/relayctl.8     (share/man: the Linux man path)
#   $PREFIX/lib/systemd/system/relayd.service (systemd also searches
#                                         /usr/local/lib/systemd/system)
#   /etc/iproute2/rt_protos.d/relayd.conf the name of the routers' route
#                                         protocol (147 relayd) for ip(8)
#   /etc/relayd.conf, /etc/default/relayd  only if absent (never overwritten)
#   /etc/rc.d/relayd                       only where /etc/rc.d/rc.subr exists
#   /var/empty and the _relayd user and group, only if absent
#   $PREFIX/share/relayd/install-manifest  what this script installed
#
# Uninstall reads the manifest and removes exactly what it lists:
#   - files it copied (binaries, man pages, unit, rc.d script, the route
#     protocol's name);
#   - /etc/relayd.conf and /etc/default/relayd only if they are unchanged
#     since install (same checksum); an edited file is kept and reported;
#   - the _relayd user and group and /var/empty only if this script created
#     them (a user that existed before install is left alone), and
#     /var/empty only while it is empty.
#
# Environment:
#   PREFIX     installation prefix (default /usr/local)
#   DESTDIR    staging root; nothing outside it is touched and no user is
#              created or removed (for packaging and tests)
#   BUILD_DIR  where relayd and relayctl were built
#              (default ${CARGO_TARGET_DIR:-target}/release; relative
#              paths are taken from the source tree)
set -eu

cd "$(dirname "$0")"

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BUILD_DIR=${BUILD_DIR:-${CARGO_TARGET_DIR:-target}/release}

sbindir=$PREFIX/sbin
mandir=$PREFIX/share/man
unitdir=$PREFIX/lib/systemd/system
manifest=$PREFIX/share/relayd/install-manifest
daemon_user=_relayd
chroot_dir=/var/empty
tab=$(printf '\t')

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

# Prints "CRC SIZE" of a file, the fingerprint used to spot edited configs.
fingerprint() { cksum < "$1" | awk '{ print $1 "-" $2 }'; }

# One manifest line: kind, path (without DESTDIR), optional fingerprint.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >> "$new_manifest"; }

# Copies $1 to $2 (a path without DESTDIR) with mode $3 and records it.
put_file() {
    install -d -m 0755 "$DESTDIR$(dirname "$2")"
    install -m "$3" "$1" "$DESTDIR$2"
    record file "$2"
}

# Copies $1 to $2 with mode $3 unless $2 exists: operators' files win.
put_config() {
    if [ -e "$DESTDIR$2" ]; then
        say "kept existing $DESTDIR$2"
        return
    fi
    if [ ! -f "$1" ]; then
        say "no $1 in the source tree; $2 not installed"
        return
    fi
    install -d -m 0755 "$DESTDIR$(dirname "$2")"
    install -m "$3" "$1" "$DESTDIR$2"
    record config "$2" "$(fingerprint "$DESTDIR$2")"
}

# Rewrites the /usr/local/sbin paths of a service file for this PREFIX.
with_prefix() { sed "s|/usr/local/sbin/|$sbindir/|g" "$1"; }

nologin_shell() {
    for shell in /usr/sbin/nologin /sbin/nologin /usr/bin/false /bin/false; do
        if [ -x "$shell" ]; then
            echo "$shell"
            return
        fi
    done
    echo /bin/false
}

create_user_and_group() {
    if [ -n "$DESTDIR" ]; then
        say "DESTDIR is set: not creating the $daemon_user user and group" \
            "(the package's install scripts must do it)"
        return
    fi
    if ! getent group "$daemon_user" > /dev/null; then
        groupadd --system "$daemon_user"
        record group "$daemon_user"
        say "created group $daemon_user"
    fi
    if ! getent passwd "$daemon_user" > /dev/null; then
        useradd --system --gid "$daemon_user" --home-dir "$chroot_dir" \
            --no-create-home --shell "$(nologin_shell)" \
            --comment "relayd unprivileged user" "$daemon_user"
        record user "$daemon_user"
        say "created user $daemon_user"
    fi
}

do_install() {
    for binary in relayd relayctl; do
        [ -x "$BUILD_DIR/$binary" ] ||
            die "$BUILD_DIR/$binary is missing: run 'cargo build --release --workspace' first (or set BUILD_DIR)"
    done
    if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
        die "installing to / needs root (or set DESTDIR to stage the files)"
    fi

    new_manifest=$(mktemp)
    trap 'rm -f "$new_manifest"' EXIT
    # A reinstall must remember what an earlier run created (user, configs).
    if [ -f "$DESTDIR$manifest" ]; then
        grep -v "^file$tab" "$DESTDIR$manifest" >> "$new_manifest" || true
    fi

    put_file "$BUILD_DIR/relayd" "$sbindir/relayd" 0555
    put_file "$BUILD_DIR/relayctl" "$sbindir/relayctl" 0555
    put_file man/relayd.8 "$mandir/man8/relayd.8" 0444
    put_file man/relayctl.8 "$mandir/man8/relayctl.8" 0444
    put_file man/relayd.conf.5 "$mandir/man5/relayd.conf.5" 0444

    unit=$(mktemp)
    with_prefix etc/systemd/relayd.service > "$unit"
    put_file "$unit" "$unitdir/relayd.service" 0444
    rm -f "$unit"
    if [ -f /etc/rc.d/rc.subr ]; then
        script=$(mktemp)
        with_prefix etc/rc.d/relayd > "$script"
        put_file "$script" /etc/rc.d/relayd 0555
        rm -f "$script"
    fi

    # relayd's own file (iproute2 reads every *.conf there): always ours.
    put_file etc/iproute2/rt_protos.d/relayd.conf /etc/iproute2/rt_protos.d/relayd.conf 0644

    put_config etc/relayd.conf /etc/relayd.conf 0600
    put_config etc/default/relayd /etc/default/relayd 0644

    if [ ! -d "$DESTDIR$chroot_dir" ]; then
        install -d -m 0755 "$DESTDIR$chroot_dir"
        record dir "$chroot_dir"
    fi
    create_user_and_group

    install -d -m 0755 "$DESTDIR$(dirname "$manifest")"
    sort -u "$new_manifest" > "$DESTDIR$manifest"
    chmod 0444 "$DESTDIR$manifest"
    say "installed under ${DESTDIR:-/} with PREFIX=$PREFIX (manifest: $DESTDIR$manifest)"
    case "$unitdir" in
    /usr/local/lib/systemd/system | /usr/lib/systemd/system | /lib/systemd/system) ;;
    *) say "systemd does not search $unitdir: link $unitdir/relayd.service into /etc/systemd/system" ;;
    esac
}

do_uninstall() {
    [ -f "$DESTDIR$manifest" ] ||
        die "no manifest at $DESTDIR$manifest: nothing to uninstall (same PREFIX and DESTDIR as the install?)"
    if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
        die "uninstalling from / needs root"
    fi
    manifest_copy=$(mktemp)
    trap 'rm -f "$manifest_copy"' EXIT
    cp "$DESTDIR$manifest" "$manifest_copy"

    # Files first, then the user before its group, then the directory.
    for kind in file config user group dir; do
        while IFS="$tab" read -r line_kind path sum; do
            [ "$line_kind" = "$kind" ] || continue
            uninstall_one "$kind" "$path" "$sum"
        done < "$manifest_copy"
    done

    rm -f "$DESTDIR$manifest"
    rmdir "$DESTDIR$(dirname "$manifest")" 2> /dev/null || true
    say "uninstalled from ${DESTDIR:-/} (PREFIX=$PREFIX)"
}

uninstall_one() {
    case "$1" in
    file)
        rm -f "$DESTDIR$2"
        ;;
    config)
        if [ ! -e "$DESTDIR$2" ]; then
            :
        elif [ "$(fingerprint "$DESTDIR$2")" = "$3" ]; then
            rm -f "$DESTDIR$2"
        else
            say "kept $DESTDIR$2: it was changed after install"
        fi
        ;;
    user)
        if [ -n "$DESTDIR" ]; then
            say "DESTDIR is set: not removing user $2"
        elif getent passwd "$2" > /dev/null; then
            userdel "$2"
        fi
        ;;
    group)
        if [ -n "$DESTDIR" ]; then
            say "DESTDIR is set: not removing group $2"
        elif getent group "$2" > /dev/null; then
            groupdel "$2"
        fi
        ;;
    dir)
        rmdir "$DESTDIR$2" 2> /dev/null || say "kept $DESTDIR$2: not empty"
        ;;
    esac
}

case "${1:-install}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: $0 [install|uninstall]" ;;
esac
