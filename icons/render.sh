#!/bin/sh
# Re-render every Dyntray PNG from its SVG source. Idempotent: it only
# overwrites the PNGs listed below. Needs rsvg-convert (librsvg2-bin).
# rsvg-convert always writes 8-bit RGBA PNGs (colour type 6), as Tauri needs.
set -eu
cd "$(dirname "$0")"

render() { # svg size out
    rsvg-convert --width "$2" --height "$2" --keep-aspect-ratio "$1" --output "$3"
}

# application icon
render app.svg 32  32x32.png
render app.svg 128 128x128.png
render app.svg 256 128x128@2x.png
render app.svg 512 icon.png
# Windows: one .ico with every size Explorer and the taskbar ask for (ImageMagick)
convert 32x32.png 128x128.png icon.png -define icon:auto-resize=256,128,64,48,32,16 icon.ico

# tray icons, one per state
for state in idle ok updating attention paused offline; do
    for size in 16 22 24 32 48 64; do
        render "tray/$state.svg" "$size" "tray/$state-$size.png"
    done
done
echo "rendered $(ls ./*.png tray/*.png | wc -l) PNGs"
