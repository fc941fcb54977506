#!/bin/sh
# Installs headless Chromium (Debian package `chromium`) for tests/test_report.py, which opens the run
# report in it. Does nothing when a Chromium is already there; when it cannot install (not root, no
# apt-get) it says so and exits 0: that test then skips with the same reason.
set -e
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" != "0" ]; then
    echo "install_chromium.sh: not root: install Chromium yourself (e.g. sudo apt-get install chromium) to run the report's browser test." >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no apt-get: install Chromium yourself to run the report's browser test." >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
