#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser), which drive it with
# Playwright; Playwright's own browser downloads are never used. Does nothing when
# /usr/bin/chromium exists. Without apt-get or root (and no sudo) it only says so: the
# browser tests then skip, naming the missing binary.
set -uo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo "install_browser: no apt-get here; install Chromium at $CHROMIUM yourself" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "install_browser: not root and no sudo; install Chromium at $CHROMIUM yourself" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Without its recommendations (desktop services a test run does not need), but with a
# font, which only they would have brought.
apt_install() {
    "${as_root[@]}" apt-get install -y -q --no-install-recommends chromium fonts-liberation
}
apt_install >/dev/null || { "${as_root[@]}" apt-get update -q >/dev/null && apt_install >/dev/null; } \
    || echo "install_browser: apt-get could not install chromium" >&2
[ -x "$CHROMIUM" ] || echo "install_browser: $CHROMIUM is still missing" >&2
exit 0
