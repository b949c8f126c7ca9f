#!/usr/bin/env bash
# Opens an `vaerans eval --out DIR` report in headless Chromium and checks it:
#   - report.html, results.json and results.csv are there;
#   - the page references nothing outside itself;
#   - Chromium loads it without a console error or a failed load;
#   - the rendered DOM holds both rate-distortion charts with a line per codec;
#   - a screenshot shows the charts (the vaerans series colour is on screen).
# Installs Debian's chromium when it is missing. The screenshot goes outside the repository.
# Usage: scripts/check-report.sh REPORT_DIR [SCREENSHOT_PNG]
set -euo pipefail

dir=${1:?usage: scripts/check-report.sh REPORT_DIR [SCREENSHOT_PNG]}
shot=${2:-${TMPDIR:-/tmp}/vaerans-report.png}
html="$(cd "$dir" && pwd)/report.html"

for f in report.html results.json results.csv; do
    [ -s "$dir/$f" ] || { echo "FAIL: $dir/$f is missing or empty" >&2; exit 1; }
done

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# Self-contained: no script, stylesheet, image or font from anywhere else.
if grep -Eo '(src|href)="[^"#][^"]*"|url\(' "$html" | grep -v '^href="#' | head -1 | grep -q .; then
    echo "FAIL: report.html references an outside resource:" >&2
    grep -Eo '(src|href)="[^"#][^"]*"|url\(' "$html" | head -5 >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0)

# The DOM Chromium built, and everything it logged while loading the page.
chromium "${flags[@]}" --dump-dom "file://$html" >"$work/dom.html" 2>"$work/dom.log" || {
    echo "FAIL: chromium could not load the page" >&2
    cat "$work/dom.log" >&2
    exit 1
}
chromium "${flags[@]}" --window-size=1280,1100 --screenshot="$shot" "file://$html" \
    >/dev/null 2>"$work/shot.log" || {
    echo "FAIL: chromium could not take a screenshot" >&2
    cat "$work/shot.log" >&2
    exit 1
}
if grep -hE 'CONSOLE|Uncaught|Failed to load|net::ERR' "$work/dom.log" "$work/shot.log"; then
    echo "FAIL: the page logged errors while loading (above)" >&2
    exit 1
fi

python3 - "$work/dom.html" "$shot" <<'EOF'
import re, struct, sys, zlib

dom = open(sys.argv[1], encoding="utf-8").read()
for fig in ("rd-psnr", "rd-msssim"):
    m = re.search(r'<figure id="%s">(.*?)</figure>' % fig, dom, re.S)
    if not m or "<svg" not in m.group(1):
        sys.exit("FAIL: the rendered page has no %s chart" % fig)
    # One polyline per codec for its curve, one more for its legend entry; vaerans is red.
    curves = re.findall(r'<polyline[^>]*stroke="(#[0-9A-F]{6})"[^>]*stroke-width="2"', m.group(1))
    if curves.count("#D62728") < 2:
        sys.exit("FAIL: the %s chart has no vaerans curve" % fig)
    print("%s: SVG with %d codec curve(s)" % (fig, len(set(curves))))

# Decode the PNG screenshot (8-bit RGB or RGBA, non-interlaced, as Chromium writes it).
data = open(sys.argv[2], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("FAIL: the screenshot is not a PNG")
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        if depth != 8 or ctype not in (2, 6) or interlace:
            sys.exit("FAIL: unexpected PNG format (depth %d, colour type %d)" % (depth, ctype))
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
red = other = 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for i in range(0, stride, bpp):
        r, g, bl = line[i], line[i + 1], line[i + 2]
        if abs(r - 214) < 30 and abs(g - 39) < 30 and abs(bl - 40) < 30:
            red += 1
        elif (r, g, bl) != (255, 255, 255):
            other += 1
    prev = line
print("screenshot %dx%d: %d pixels of the vaerans curve, %d other non-white" % (w, h, red, other))
if red < 200:
    sys.exit("FAIL: the screenshot does not show the vaerans curve")
if other < 5000:
    sys.exit("FAIL: the screenshot is almost blank")
EOF
echo "OK: $html opens in headless Chromium without errors; screenshot at $shot"
