# Dyntray: two commands for a fresh Debian 12 / Ubuntu machine with Rust installed.
#   make run    installs missing system packages, builds (release), starts the tray app
#   make test   installs the test tools, then runs fmt, clippy and every test headless,
#               the workspace checked for Windows and the engine tested under Wine,
#               then the Debian package built and tested in a clean Debian 12 (as root,
#               or through sudo)
# Also: make package (target/package/dyntray_*.deb), make test-package (its install test).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo

# To build and run: a C toolchain, WebKitGTK (for the settings window only) and SQLite.
BUILD_PACKAGES := build-essential pkg-config libwebkit2gtk-4.1-dev libsqlite3-dev
# To test headless: X server, window manager, D-Bus, keyring, notifications, WebDriver,
# a panel that hosts tray icons, screenshots, and the DNS server for RFC 2136 tests.
TEST_PACKAGES := xvfb xauth openbox wmctrl xdotool x11-utils xclip imagemagick \
	dbus dbus-x11 systemd gnome-keyring libsecret-tools dunst \
	webkit2gtk-driver xfce4-panel bind9 bind9-utils bind9-dnsutils
# To build and check the Debian package, and to test it in a debootstrapped Debian 12.
PACKAGE_PACKAGES := dpkg-dev lintian appstream python3 debootstrap debian-archive-keyring
# To build for Windows (x86_64-pc-windows-gnu) and run its tests under Wine.
WINDOWS_PACKAGES := gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev wine64
WINDOWS_TARGET := x86_64-pc-windows-gnu
TAURI_DRIVER_VERSION := ^2

.PHONY: run test deps test-deps package-deps windows-deps toolchain build release package \
	test-package test-windows tauri-driver clean

run: deps release
	exec ./target/release/dyntray

release:
	$(CARGO) build --release --workspace --bins

build:
	$(CARGO) build --workspace --bins

test: deps test-deps package-deps windows-deps toolchain tauri-driver
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) build --workspace --bins
	scripts/headless-session.sh $(CARGO) test --workspace --no-fail-fast
	CARGO="$(CARGO)" scripts/test-windows.sh
	scripts/package-deb.sh
	scripts/headless-session.sh scripts/test-package.sh

# The package: three binaries built with the dist profile, checked by lintian and
# appstreamcli.
package: deps package-deps
	scripts/package-deb.sh

# The package installed into a clean Debian 12, run there, then purged.
test-package: package test-deps
	$(CARGO) build -p dyntray-tests --bin fake-provider
	scripts/headless-session.sh scripts/test-package.sh

deps:
	scripts/apt-install.sh $(BUILD_PACKAGES)

test-deps:
	scripts/apt-install.sh $(TEST_PACKAGES)

package-deps:
	scripts/apt-install.sh $(PACKAGE_PACKAGES)

windows-deps:
	scripts/apt-install.sh $(WINDOWS_PACKAGES)

# Windows: clippy for the workspace, the engine's tests under Wine, dyntray.exe and
# dyntrayd.exe end to end.
test-windows: windows-deps toolchain
	$(CARGO) build -p dyntray-tests --bin fake-provider
	CARGO="$(CARGO)" scripts/test-windows.sh

toolchain:
	if command -v rustup >/dev/null; then
		rustup component add rustfmt clippy >/dev/null 2>&1 || true
		rustup target add $(WINDOWS_TARGET) >/dev/null
	elif [ ! -d "$$(rustc --print target-libdir --target $(WINDOWS_TARGET) 2>/dev/null)" ]; then
		echo "toolchain: the $(WINDOWS_TARGET) target is missing; install Rust with rustup" >&2
		exit 1
	fi

tauri-driver:
	if ! command -v tauri-driver >/dev/null || ! tauri-driver --help 2>&1 | grep -q native-driver; then
		$(CARGO) install tauri-driver --locked --version '$(TAURI_DRIVER_VERSION)'
	fi

clean:
	$(CARGO) clean
	rm -rf test-artifacts
