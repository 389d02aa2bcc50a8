#!/usr/bin/env bash
# Windows (issue 15): the whole workspace checked by clippy for x86_64-pc-windows-gnu, the
# engine's and the tray's tests run under Wine, dyntrayd.exe end to end under Wine
# against fake-provider on 127.0.0.1 (its control API over the named pipe included), then
# the tray process under Wine on a headless X display, and the installer built from
# the same binaries, installed and removed.
#
# Wine 8 lacks ProcessPrng (bcryptprimitives.dll), which every Rust program since 1.78
# imports: a throw-away prefix gets a small shim (tests/wine/) in its system32. The shim
# is built here for the tests only and never ships.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=x86_64-pc-windows-gnu
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo=${CARGO:-cargo}
wine=/usr/lib/wine/wine64

say() { printf '[test-windows] %s\n' "$*"; }
fail() {
    printf 'test-windows: FAILED: %s\n' "$*" >&2
    exit 1
}
for tool in "$wine" x86_64-w64-mingw32-gcc makensis; do
    command -v "$tool" >/dev/null || fail "$tool is missing; run 'make windows-deps toolchain'"
done

say "clippy for $target"
$cargo clippy --target "$target" --workspace --lib --bins --tests -- -D warnings

work=$(mktemp -d)
fake_pid=""
cleanup() {
    [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
    WINEPREFIX=$work/prefix /usr/lib/wine/wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
"$wine" wineboot -i >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log" >&2; fail "wineboot"; }
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$root/scripts/wine-run.sh

say "the engine's tests under Wine"
$cargo test --target "$target" -p dyntray-engine -p dyntray-os --no-fail-fast
say "the tray's tests under Wine (its menu as a native Win32 menu)"
$cargo test --target "$target" -p dyntray --bin dyntray

say "dyntrayd.exe under Wine"
# Every program that ships: dyntrayd, the tray and the settings window.
$cargo build --target "$target" -p dyntray-engine -p dyntray --bins
exe=$target_dir/$target/debug/dyntrayd.exe
fake_bin=$target_dir/debug/fake-provider
[ -x "$fake_bin" ] || $cargo build -p dyntray-tests --bin fake-provider
linux_dyntrayd=$target_dir/debug/dyntrayd
[ -x "$linux_dyntrayd" ] || $cargo build -p dyntray-engine --bin dyntrayd
# shellcheck source=scripts/fake-setup.sh
. scripts/fake-setup.sh
start_fake_provider || fail "fake-provider did not start"
updates() { # the update requests logged, once fake-provider's log has caught up
    sleep 0.5
    grep -c '^GET /nic/update ' "$work/fake.log" || true
}
windows_path() { printf 'Z:%s' "${1//\//\\}"; } # Wine's Z: is the host's /
config=$work/config.toml
write_config() { # secret reference (a TOML literal string: Windows paths have backslashes)
    printf '%s\n' 'version = 1' '' '[detect]' "ipv4 = [\"$server/ip\"]" 'ipv6 = []' '' \
        '[[account]]' 'id = "home"' 'provider = "dyndns"' 'username = "user"' \
        "secret = '$1'" "server = \"$server\"" '' \
        '[[record]]' 'name = "home.example.org"' 'account = "home"' >"$config"
}
daemon() {
    DYN_PASS=pass "$wine" "$exe" --config "$(windows_path "$config")" \
        --state-dir "$(windows_path "$work/state")" "$@"
}

tray_exe=$target_dir/$target/debug/dyntray.exe
got=$("$wine" "$tray_exe" --version)
[ "$got" = "dyntray $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)" ] ||
    fail "dyntray.exe --version said '$got'"
# The tray stays lean: the settings window's WebView2 is in dyntray-settings.exe only.
imports() { x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/^\s*DLL Name: //p'; }
grep -qix 'WebView2Loader.dll' <<<"$(imports "$tray_exe")" &&
    fail "dyntray.exe links WebView2Loader.dll; only dyntray-settings.exe may"
grep -qix 'WebView2Loader.dll' <<<"$(imports "$target_dir/$target/debug/dyntray-settings.exe")" ||
    fail "dyntray-settings.exe does not load WebView2Loader.dll (what ships beside it?)"

got=$(daemon --version)
[ "$got" = "dyntrayd $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)" ] ||
    fail "dyntrayd.exe --version said '$got'"

# A secret file others may read is refused, naming them and the cure. Once it is the
# user's alone (Wine gives a file of Unix mode 0600 an access list without Everyone) it
# is used.
printf 'pass\n' >"$work/secret"
chmod 644 "$work/secret"
write_config "file:$(windows_path "$work/secret")"
if daemon once >"$work/refused.log" 2>&1; then
    fail "a secret file Everyone may read was used: $(cat "$work/refused.log")"
fi
grep -q 'can be read by Everyone' "$work/refused.log" && grep -q 'icacls' "$work/refused.log" ||
    fail "the refusal does not say who may read it and what to do: $(cat "$work/refused.log")"
[ "$(updates)" -eq 0 ] || fail "a refused secret still sent an update"
chmod 600 "$work/secret"
daemon check-config >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; fail "check-config"; }
daemon once >"$work/once.log" 2>&1 || { cat "$work/once.log" >&2; fail "once"; }
[ "$(updates)" -eq 1 ] || fail "once sent $(updates) updates, not 1: $(cat "$work/once.log")"
daemon once >>"$work/once.log" 2>&1 || { cat "$work/once.log" >&2; fail "the second once"; }
[ "$(updates)" -eq 1 ] || fail "a second once sent again (unchanged address)"

# The same account with its secret from the environment: nothing new to send.
write_config "env:DYN_PASS"
daemon once >>"$work/once.log" 2>&1 || { cat "$work/once.log" >&2; fail "once with env:"; }
[ "$(updates)" -eq 1 ] || fail "a changed secret source sent again (unchanged address)"

# The keychain: Windows' Credential Manager (CredWriteW/CredReadW, which Wine has).
printf '%s\n' 'version = 1' '' '[detect]' "ipv4 = [\"$server/ip\"]" 'ipv6 = []' '' \
    '[[account]]' 'id = "vault"' 'provider = "dyndns"' 'username = "user"' \
    "server = \"$server\"" '' '[[record]]' 'name = "vault.example.org"' 'account = "vault"' \
    >"$config"
printf 'pass\n' | daemon secret set vault >"$work/secret.log" 2>&1 ||
    { cat "$work/secret.log" >&2; fail "secret set (Credential Manager)"; }
daemon once >"$work/vault.log" 2>&1 || { cat "$work/vault.log" >&2; fail "once with the keychain"; }
[ "$(updates)" -eq 2 ] || fail "once with a keychain secret sent $(($(updates) - 1)) updates, not 1"
say "dyntrayd.exe: --version, a secret file others may read refused and a private one used," \
    "check-config, once (1 update), once again (nothing), a secret in the Credential Manager used"

# The control API over the named pipe: run serves it, info and status ask it, a second
# run finds the first, stop ends it (exit 0).
daemon run >"$work/run.log" 2>&1 &
run_pid=$!
info=""
for _ in $(seq 150); do
    info=$(daemon info 2>/dev/null) && break
    kill -0 "$run_pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "run exited at start"; }
    sleep 0.2
done
[ -n "$info" ] || { cat "$work/run.log" >&2; fail "info got no answer over the pipe"; }
# (JSON doubles each backslash: \\\\.\\pipe\\dyntray-<SID>)
grep -qF '\\\\.\\pipe\\dyntray-S-1-5-' <<<"$info" || fail "info names no per-user pipe: $info"
daemon status --json >"$work/status.json" 2>&1 || { cat "$work/status.json" >&2; fail "status"; }
grep -q '"vault.example.org"' "$work/status.json" || fail "status shows no record: $(cat "$work/status.json")"
if daemon run >"$work/second.log" 2>&1; then
    fail "a second run started beside the first"
fi
grep -q "already serves" "$work/second.log" || fail "a second run said: $(cat "$work/second.log")"
[ "$(updates)" -eq 2 ] || fail "run sent again an address that did not change"
# A hand edit reaches the running engine by itself (the directory's change notification):
# the new name is sent. Then reload asks over the pipe, and sends nothing new.
printf '%s\n' '' '[[record]]' 'name = "late.example.org"' 'account = "vault"' >>"$config"
for _ in $(seq 40); do
    [ "$(updates)" -ge 3 ] && break
done
[ "$(updates)" -eq 3 ] || { cat "$work/run.log" >&2; fail "a hand edit did not reach dyntrayd.exe run"; }
grep -q 'late.example.org' "$work/fake.log" || fail "the update was not for the new name"
daemon reload >"$work/reload.log" 2>&1 || { cat "$work/reload.log" >&2; fail "reload"; }
grep -q "read .* again" "$work/reload.log" || fail "reload said: $(cat "$work/reload.log")"
daemon stop >"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; fail "stop"; }
wait "$run_pid" || { cat "$work/run.log" >&2; fail "run did not exit 0 after stop"; }
[ "$(updates)" -eq 3 ] || fail "reload or stop sent an update"
say "dyntrayd.exe over the named pipe: run, info, status, a second run refused, a hand" \
    "edit applied by itself, reload, stop"

# What the uninstaller runs to remove saved passwords: the Credential Manager entry goes,
# and nothing can be sent without it.
daemon secret delete --all >"$work/delete.log" 2>&1 || { cat "$work/delete.log" >&2; fail "secret delete --all"; }
grep -q "vault" "$work/delete.log" || fail "secret delete --all said: $(cat "$work/delete.log")"
printf '%s\n' '' '[[record]]' 'name = "after.example.org"' 'account = "vault"' >>"$config"
if daemon once >"$work/deleted.log" 2>&1; then
    fail "once ran with the secret deleted: $(cat "$work/deleted.log")"
fi
[ "$(updates)" -eq 3 ] || fail "an update went out without its secret"
say "dyntrayd.exe secret delete --all emptied the Credential Manager of the config's accounts"

# The interface source from the IP Helper API: Wine lists this host's interfaces, so
# dyntrayd.exe must choose the same IPv4 address (or give the same reason for none) as
# the Linux build reading netlink. (IPv6 is compared in unit tests only: whether Wine
# reports duplicate address detection and privacy addresses as the kernel does depends
# on the host; here it must at least be read.)
printf '%s\n' 'version = 1' '' '[detect]' 'ipv4 = ["interface"]' 'ipv6 = ["interface"]' \
    >"$work/interfaces.toml"
linux_rc=0 windows_rc=0
"$linux_dyntrayd" --config "$work/interfaces.toml" --state-dir "$work/linux-state" \
    ip -4 >"$work/linux-ip.txt" 2>&1 || linux_rc=$?
"$wine" "$exe" --config "$(windows_path "$work/interfaces.toml")" \
    --state-dir "$(windows_path "$work/windows-state")" ip -4 2>&1 |
    tr -d '\r' >"$work/windows-ip.txt" || windows_rc=$?
diff -u "$work/linux-ip.txt" "$work/windows-ip.txt" >&2 ||
    fail "dyntrayd.exe ip -4 differs from the Linux build's"
[ "$linux_rc" = "$windows_rc" ] || fail "ip -4 exited $windows_rc on Windows, $linux_rc on Linux"
"$wine" "$exe" --config "$(windows_path "$work/interfaces.toml")" \
    --state-dir "$(windows_path "$work/windows-state")" ip -6 >"$work/windows-ip6.txt" 2>&1 || true
! grep -q "reading interface addresses failed\|supported on Linux" "$work/windows-ip6.txt" ||
    fail "dyntrayd.exe could not read IPv6 interfaces: $(cat "$work/windows-ip6.txt")"
say "dyntrayd.exe reads the interfaces as the Linux build does: $(tr '\n' ' ' <"$work/linux-ip.txt")"

say "dyntray.exe under Wine on a headless X display: icon, balloon, Settings, quit"
scripts/headless-session.sh scripts/test-windows-tray.sh "$tray_exe" "$exe" "$fake_bin"

say "the installer, packed from these binaries (zlib: quick; make package-windows packs" \
    "the dist build with LZMA), then installed, upgraded and removed under Wine"
COMPRESSOR=zlib scripts/package-windows.sh "$target_dir/$target/debug" "$work/installer"
scripts/test-windows-installer.sh "$work/installer/dyntray-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)-setup.exe"
