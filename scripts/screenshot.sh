#!/usr/bin/env bash
# Opens an SVG in headless Chromium and saves what the browser drew as a PNG,
# the window sized to the picture.
#
#   scripts/screenshot.sh IN.svg OUT.png
#
# Needs Chromium: Debian's package is `chromium` (sudo apt-get install
# chromium); CHROMIUM=path picks another binary.
set -u

die() {
    echo "screenshot: $2" >&2
    exit "$1"
}

[ $# -eq 2 ] || die 2 "usage: $0 IN.svg OUT.png"
svg=$1
png=$2
[ -r "$svg" ] || die 2 "cannot read $svg"
browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then
            browser=$candidate
            break
        fi
    done
fi
[ -n "$browser" ] || die 1 "no Chromium found: install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM"

# The picture's own size, from the first width= and height= of the file.
width=$(grep -o -m 1 'width="[0-9]*"' "$svg" | head -n 1 | tr -dc '0-9')
height=$(grep -o -m 1 'height="[0-9]*"' "$svg" | head -n 1 | tr -dc '0-9')
[ -n "$width" ] && [ -n "$height" ] || die 2 "$svg has no width and height"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
absolute=$(cd "$(dirname "$svg")" && pwd)/$(basename "$svg")
out_dir=$(cd "$(dirname "$png")" 2>/dev/null && pwd) || die 2 "no folder for $png"
out=$out_dir/$(basename "$png")
rm -f "$out"
# As root, Chromium needs --no-sandbox; the networking flags keep it from
# reaching for Google's services on a machine without the internet.
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --window-size="$width,$height" --screenshot="$out" "file://$absolute" \
    >/dev/null 2>&1
[ -s "$out" ] || die 1 "Chromium did not write $out"
echo "$out (${width}x$height)"
