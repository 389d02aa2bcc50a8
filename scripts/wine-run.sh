#!/usr/bin/env bash
# Cargo's runner for the Windows target: runs a Windows program under Wine, in the
# prefix scripts/test-windows.sh prepared (WINEPREFIX), without Wine's own chatter.
set -euo pipefail
: "${WINEPREFIX:?run through scripts/test-windows.sh, which prepares the Wine prefix}"
export WINEDEBUG=${WINEDEBUG:--all}
exec /usr/lib/wine/wine64 "$@"
