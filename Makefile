# Dyntray: two commands for a fresh Debian 12 / Ubuntu machine with Rust installed.
#   make run    installs missing system packages, builds (release), starts the tray app
#   make test   installs the test tools, then runs fmt, clippy and every test headless,
#               the workspace checked for Windows, the engine, dyntrayd.exe, the tray
#               and the installer tested under Wine, then the Debian package built and
#               tested in a clean Debian 12 (as root, or through sudo)
# Also: make package (target/package/dyntray_*.deb), make test-package (its install test),
# make package-windows (target/package/dyntray-*-setup.exe).
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
# NSIS (makensis) builds the installer.
WINDOWS_PACKAGES := gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev \
	wine64 nsis
WINDOWS_TARGET := x86_64-pc-windows-gnu
TAURI_DRIVER_VERSION := ^2

.PHONY: run test deps test-deps package-deps windows-deps toolchain build release package \
	test-package test-windows package-windows tauri-driver clean

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

# Windows: clippy for the workspace, the engine's and the tray's tests under Wine,
# dyntrayd.exe and the tray end to end (in the headless session), the installer.
test-windows: windows-deps test-deps toolchain
	$(CARGO) build -p dyntray-tests --bin fake-provider
	CARGO="$(CARGO)" scripts/test-windows.sh

# The Windows installer: the three programs built with the dist profile for Windows, the
# licences of the crates they link, packed by NSIS with LZMA.
package-windows: windows-deps toolchain
	target_dir=$${CARGO_TARGET_DIR:-target}
	$(CARGO) build --locked --profile dist --target $(WINDOWS_TARGET) \
		-p dyntray-engine --bin dyntrayd -p dyntray --bins
	mkdir -p "$$target_dir/package"
	packaging/crate-licences.py $(WINDOWS_TARGET) dyntray dyntray-engine \
		>"$$target_dir/package/rust-crates-windows.txt"
	CRATE_LICENCES="$$target_dir/package/rust-crates-windows.txt" \
		scripts/package-windows.sh "$$target_dir/$(WINDOWS_TARGET)/dist" "$$target_dir/package"

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
