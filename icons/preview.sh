#!/bin/sh
# Build a legibility preview sheet (not shipped). Left half: light panel
# (#f0f0f0), right half: dark panel (#2b2b2b). One row per tray size (16, 22,
# 24 px), one column per state (ok, updating, attention, paused, offline),
# scaled 4x nearest-neighbour so single pixels are visible. Bottom row: the
# app icon at 32 px (4x) and 128 px (1x) on both backgrounds.
# Usage: icons/preview.sh [out.png]   (default /tmp/icon-preview.png)
# Needs ImageMagick 6 (convert) and the PNGs written by render.sh.
set -eu
cd "$(dirname "$0")"
out=${1:-/tmp/icon-preview.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

halves=""
for bg in f0f0f0 2b2b2b; do
    rows=""
    for size in 16 22 24; do
        cells=""
        for state in ok updating attention paused offline; do
            convert "tray/$state-$size.png" -background "#$bg" -gravity center \
                -extent 26x26 -flatten -filter point -resize 400% \
                -bordercolor "#$bg" -border 6 "$tmp/$bg-$size-$state.png"
            cells="$cells $tmp/$bg-$size-$state.png"
        done
        # shellcheck disable=SC2086
        convert $cells +append "$tmp/$bg-$size.png"
        rows="$rows $tmp/$bg-$size.png"
    done
    convert 32x32.png -background "#$bg" -flatten -filter point -resize 400% \
        -bordercolor "#$bg" -border 8 "$tmp/$bg-a32.png"
    convert 128x128.png -background "#$bg" -flatten \
        -bordercolor "#$bg" -border 8 "$tmp/$bg-a128.png"
    convert "$tmp/$bg-a32.png" "$tmp/$bg-a128.png" -background "#$bg" \
        -gravity center +append "$tmp/$bg-apps.png"
    # shellcheck disable=SC2086
    convert $rows "$tmp/$bg-apps.png" -background "#$bg" -gravity west \
        -append "$tmp/$bg.png"
    halves="$halves $tmp/$bg.png"
done
# shellcheck disable=SC2086
convert $halves +append "$out"
echo "wrote $out"
