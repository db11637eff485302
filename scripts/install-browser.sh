#!/bin/sh
# The browser the browser tests drive (tests/browser): Debian's chromium from apt, never
# a downloaded build, and a Japanese font so pages and screenshots show 日本語, not boxes.
# Also poppler's pdftoppm, which renders a certificate as a PDF viewer does, for the test
# that reads its QR code back from the picture (tests/services/test_certificates.py).
# Installs only what is missing, and only where apt-get exists (as root, or through sudo).
# It never fails the test command: without a browser the browser tests skip, or fail
# when CI=true, and say why.
set -u
missing=""
[ -x /usr/bin/chromium ] || missing="chromium"
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=ja 2>/dev/null)" ]; then
  missing="$missing fonts-ipafont-gothic"
fi
command -v pdftoppm >/dev/null 2>&1 || missing="$missing poppler-utils"
[ -n "$missing" ] || exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
as_root=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-browser: not root and no sudo; not installed:$missing" >&2
    exit 0
  fi
  as_root="sudo"
fi
apt="$as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0"
# Quiet when it works; apt-get's own words when it does not.
# shellcheck disable=SC2086  # $apt and $missing are word lists
if ! log=$({ $apt update && $apt install -y --no-install-recommends $missing; } 2>&1); then
  printf 'install-browser: apt-get could not install:%s\n%s\n' "$missing" "$log" >&2
fi
exit 0
