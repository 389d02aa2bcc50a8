#!/usr/bin/env bash
# The package's install test (`make test-package`, part of `make test`). Run it inside
# scripts/headless-session.sh, as root (it makes a chroot):
#
# 1. A clean Debian 12 made with debootstrap (minbase) in a folder.
# 2. The package installed there with apt, its dependencies resolved from the archive
#    (Recommends left out: what Depends names must be enough).
# 3. In it, from the installed paths: `dyntrayd --version`, `check-config`, `once`
#    against a fake provider on 127.0.0.1 (one update; a second `once` sends nothing),
#    the tray started in the headless session with its icon registered with the panel's
#    StatusNotifierWatcher, and the settings window opened once (a second `dyntray`
#    asks the running one) and closed.
# 4. `apt purge`: no file of the package is left, nor anything named dyntray.
#
# Cached in $CARGO_TARGET_DIR/package-test (target/ by default, so `make clean` drops
# it): the debootstrapped system as a tarball, and the .debs apt downloaded. A warm run
# extracts the tarball and installs from the cached .debs; nothing is downloaded.
#   DEBIAN_MIRROR=http://...   the archive (default: http://deb.debian.org/debian)
#   KEEP=1                     leaves the chroot folder for a look
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}
cache=$target_dir/package-test
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
artifacts=$root/test-artifacts

export started=${started:-$(date +%s)}
say() { printf '[test-package %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() {
    printf 'test-package: FAILED: %s\n' "$*" >&2
    exit 1
}
updates() { grep -c '^GET /nic/update ' "$work/fake.log" || true; }
# The update requests fake-provider has logged, once its log has caught up (it prints
# the requests it saw a few times a second).
updates_logged() {
    local i
    for i in $(seq 20); do
        [ "$(updates)" -ge "$1" ] && break
        sleep 0.1
    done
    sleep 0.5 # and nothing more comes
    updates
}

# Steps 2 to 4, in the private mount namespace (see the end of the script).
inside() {
    mount -t proc proc "$chroot_dir/proc"
    mount --rbind /sys "$chroot_dir/sys"
    mount --rbind /dev "$chroot_dir/dev"
    mkdir -p "$chroot_dir/tmp/.X11-unix"
    mount --bind /tmp/.X11-unix "$chroot_dir/tmp/.X11-unix"
    mount --bind "$cache/archives" "$chroot_dir/var/cache/apt/archives"
    # The session bus, where its socket is a file (an abstract one needs nothing).
    local bus=${DBUS_SESSION_BUS_ADDRESS#unix:path=}
    bus=${bus%%,*}
    if [ "$bus" != "$DBUS_SESSION_BUS_ADDRESS" ]; then
        mkdir -p "$chroot_dir$(dirname "$bus")"
        touch "$chroot_dir$bus"
        mount --bind "$bus" "$chroot_dir$bus"
    fi

    # --- 2. Install ------------------------------------------------------------------
    as_root() {
        chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    }
    say "apt-get update"
    as_root apt-get update -q >"$work/apt-update.log" 2>&1 ||
        { tail -20 "$work/apt-update.log" >&2; fail "apt-get update in the chroot"; }
    say "apt-get install ./$(basename "$deb") (dependencies from the archive)"
    as_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
        >"$work/apt-install.log" 2>&1 ||
        { tail -30 "$work/apt-install.log" >&2; fail "apt-get install of the package"; }
    say "installed with $(grep -c '^Setting up ' "$work/apt-install.log") packages" \
        "($(du -sm "$cache/archives" | cut -f1) MiB of .debs, cached)"
    [ "$(as_root dpkg-query -W -f='${Status}' dyntray)" = "install ok installed" ] ||
        fail "dpkg does not list dyntray as installed"
    as_root dpkg -L dyntray >"$work/package-files"

    # --- 3. Run it from the installed paths --------------------------------------------
    mkdir -p "$chroot_dir/tmp/user/home" "$chroot_dir/tmp/user/config/dyntray"
    mkdir -m 700 "$chroot_dir/tmp/user/runtime"
    chown -R "$user_id:$group_id" "$chroot_dir/tmp/user"
    # A user's session in the chroot: the desktop's display and bus, XDG dirs of its own.
    local user_env=(env -i PATH=/usr/bin:/bin HOME=/tmp/user/home LANG=C.UTF-8
        XDG_CONFIG_HOME=/tmp/user/config XDG_DATA_HOME=/tmp/user/data
        XDG_STATE_HOME=/tmp/user/state XDG_CACHE_HOME=/tmp/user/cache
        XDG_RUNTIME_DIR=/tmp/user/runtime DISPLAY="$DISPLAY"
        DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS" NO_AT_BRIDGE=1 GTK_USE_PORTAL=0)
    as_user() { chroot --userspec="$user_id:$group_id" "$chroot_dir" "${user_env[@]}" "$@"; }
    local got
    got=$(as_user dyntrayd --version)
    [ "$got" = "dyntrayd ${version%-*}" ] || fail "dyntrayd --version said '$got'"
    say "$got"
    (umask 077 && printf 'pass\n' >"$chroot_dir/tmp/user/secret")
    printf '%s\n' 'version = 1' '' '[detect]' "ipv4 = [\"$server/ip\"]" 'ipv6 = []' '' \
        '[[account]]' 'id = "home"' 'provider = "dyndns"' 'username = "user"' \
        'secret = "file:/tmp/user/secret"' "server = \"$server\"" '' \
        '[[record]]' 'name = "home.example.org"' 'account = "home"' \
        >"$chroot_dir/tmp/user/config/dyntray/config.toml"
    chown -R "$user_id:$group_id" "$chroot_dir/tmp/user"
    as_user dyntrayd check-config >"$work/check-config.log" 2>&1 ||
        { cat "$work/check-config.log" >&2; fail "dyntrayd check-config"; }
    as_user dyntrayd once >"$work/once.log" 2>&1 ||
        { cat "$work/once.log" >&2; fail "dyntrayd once"; }
    [ "$(updates_logged 1)" -eq 1 ] ||
        { cat "$work/once.log" >&2; fail "dyntrayd once sent $(updates) updates, not 1"; }
    as_user dyntrayd once >>"$work/once.log" 2>&1 ||
        { cat "$work/once.log" >&2; fail "the second dyntrayd once"; }
    [ "$(updates_logged 2)" -eq 1 ] || fail "a second dyntrayd once sent again (unchanged address)"
    say "check-config, once (1 update), once again (nothing sent)"

    # Started directly, not through a function, so that $! is the tray itself.
    chroot --userspec="$user_id:$group_id" "$chroot_dir" "${user_env[@]}" dyntray \
        >"$work/tray.log" 2>&1 &
    local tray_pid=$! item="" name pid i
    for i in $(seq 200); do
        kill -0 "$tray_pid" 2>/dev/null || { cat "$work/tray.log" >&2; fail "the tray exited"; }
        item=$(busctl --user --timeout=2 get-property org.kde.StatusNotifierWatcher \
            /StatusNotifierWatcher org.kde.StatusNotifierWatcher \
            RegisteredStatusNotifierItems 2>/dev/null | grep -o '"[^"]*"' | tr -d '"' |
            head -n1 || true)
        [ -n "$item" ] && break
        sleep 0.1
    done
    [ -n "$item" ] || { cat "$work/tray.log" >&2; fail "no tray icon registered"; }
    name=${item%%/*}
    pid=$(busctl --user --timeout=2 call org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus GetConnectionUnixProcessID s "$name" | awk '{print $2}')
    [ "$pid" = "$tray_pid" ] || fail "the registered icon ($item) is pid $pid's, not the tray's"
    got=$(busctl --user --timeout=2 get-property "$name" "/${item#*/}" \
        org.kde.StatusNotifierItem Id)
    [ "$got" = 's "dyntray"' ] || fail "the tray icon's Id is $got"
    say "the installed tray registered its icon ($item)"

    # A second start asks the running tray to open Settings, and exits.
    as_user dyntray >>"$work/tray.log" 2>&1 || fail "a second dyntray failed"
    local window="" settings_pid
    for i in $(seq 300); do
        window=$(xdotool search --onlyvisible --name '^Dyntray Settings$' 2>/dev/null |
            head -n1 || true)
        [ -n "$window" ] && break
        sleep 0.1
    done
    [ -n "$window" ] || { cat "$work/tray.log" >&2; fail "the settings window did not open"; }
    settings_pid=$(xdotool getwindowpid "$window")
    [ "$(readlink "/proc/$settings_pid/exe")" = "$chroot_dir/usr/bin/dyntray-settings" ] ||
        fail "the window is not the installed dyntray-settings"
    sleep 2 # let it draw, for the screenshot
    import -window root "$artifacts/package-settings.png"
    say "the settings window opened ($artifacts/package-settings.png)"
    wmctrl -c 'Dyntray Settings'
    for i in $(seq 100); do
        kill -0 "$settings_pid" 2>/dev/null || break
        sleep 0.1
    done
    ! kill -0 "$settings_pid" 2>/dev/null || fail "the settings window did not close"
    kill -TERM "$tray_pid"
    wait "$tray_pid" || fail "the tray did not end cleanly on SIGTERM: $(tail -5 "$work/tray.log")"
    say "settings closed, tray quit"

    # --- 4. Purge ----------------------------------------------------------------------
    rm -rf "$chroot_dir/tmp/user" "$chroot_dir/tmp/$(basename "$deb")"
    as_root apt-get purge -y -q dyntray >"$work/apt-purge.log" 2>&1 ||
        { tail -20 "$work/apt-purge.log" >&2; fail "apt-get purge"; }
    got=$(as_root dpkg-query -W -f='${Status}' dyntray 2>/dev/null || true)
    case $got in
        "" | *not-installed) ;;
        *) fail "after purge dpkg still has dyntray: $got" ;;
    esac
    local left=() path
    while IFS= read -r path; do
        [ "$path" = /. ] && continue
        if [ -e "$chroot_dir$path" ] || [ -L "$chroot_dir$path" ]; then
            # A folder other packages share stays; any file, or a folder of ours, does not.
            if [ ! -d "$chroot_dir$path" ] || [ -L "$chroot_dir$path" ] ||
                [[ $path == *dyntray* ]]; then
                left+=("$path")
            fi
        fi
    done <"$work/package-files"
    while IFS= read -r path; do
        left+=("${path#"$chroot_dir"}")
    done < <(find "$chroot_dir" -xdev \( -path "$chroot_dir/proc" -o -path "$chroot_dir/sys" \
        -o -path "$chroot_dir/dev" -o -path "$chroot_dir/tmp" \) -prune \
        -o -iname '*dyntray*' -print)
    [ "${#left[@]}" -eq 0 ] || fail "left after purge: ${left[*]}"
    say "purged: none of the package's $(wc -l <"$work/package-files") paths left"
}
if [ "${1:-}" = --inside ]; then
    inside
    exit 0
fi


# debootstrap, chroot and mounts need root; the app itself runs as the user who started
# the test (their session bus admits only them).
if [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env "$0" "$@"
fi
export user_id=${user_id:-${SUDO_UID:-0}} group_id=${group_id:-${SUDO_GID:-0}}
for tool in debootstrap unshare chroot busctl xdotool wmctrl import; do
    command -v "$tool" >/dev/null || fail "$tool is missing; run 'make test-deps package-deps'"
done
[ -n "${DISPLAY:-}" ] && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] ||
    fail "no desktop session: run it as scripts/headless-session.sh $0"
debs=("$target_dir"/package/dyntray_*_"$(dpkg --print-architecture)".deb)
[ -f "${debs[0]}" ] && [ "${#debs[@]}" -eq 1 ] ||
    fail "expected one package in $target_dir/package (make package)"
deb=${debs[0]}
fake_bin=$target_dir/debug/fake-provider
[ -x "$fake_bin" ] || fail "missing $fake_bin (cargo build -p dyntray-tests --bin fake-provider)"

# --- 1. The clean system, made once and kept as a tarball ----------------------------
mkdir -p "$cache/archives/partial"
base=$cache/$suite-minbase.tar
if [ ! -f "$base" ]; then
    say "debootstrap $suite (minbase) from $mirror: once, then cached in $base"
    fresh=$cache/fresh
    rm -rf "$fresh"
    debootstrap --variant=minbase "$suite" "$fresh" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        { tail -20 "$cache/debootstrap.log" >&2; fail "debootstrap"; }
    # A clean system as Debian installs it: the archive and its security updates.
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" \
        >"$fresh/etc/apt/sources.list"
    rm -f "$fresh"/var/cache/apt/archives/*.deb
    tar -C "$fresh" -cf "$base.tmp" .
    mv "$base.tmp" "$base"
    rm -rf "$fresh"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/dyntray-package-test.XXXXXX")
chroot_dir=$work/root
fake_pid=""
cleanup() {
    # Anything still running from the chroot ends with it.
    local pid exe
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        exe=$(readlink "/proc/$pid/root" 2>/dev/null || true)
        [ "$exe" = "$chroot_dir" ] && kill -9 "$pid" 2>/dev/null || true
    done
    [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then
        echo "test-package: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$chroot_dir" "$artifacts"
tar -C "$chroot_dir" -xf "$base"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
cp "$deb" "$chroot_dir/tmp/"
version=$(dpkg-deb -f "$deb" Version)
say "fresh $suite in $chroot_dir; installing $(basename "$deb")"

# The fake provider runs out here; the chroot shares the network (loopback).
# shellcheck source=scripts/fake-setup.sh
. scripts/fake-setup.sh
start_fake_provider --address 81.2.69.160 || fail "fake-provider did not start"

# The rest runs in a mount namespace of its own: the mounts made for the chroot vanish
# with it, whatever happens.
export chroot_dir server deb version artifacts work cache
unshare --mount --propagation private -- "$0" --inside
say "passed"
