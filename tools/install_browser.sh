#!/bin/sh
# Install Chromium and its driver from the system's packages, unless both are there already.
# `make notebooks` draws figure images with it (kaleido finds it by itself); tests/test_site.py
# drives it through chromedriver. Debian and its derivatives: apt-get, as root or with sudo.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install Chromium and chromedriver with your system's package manager (no apt-get here)" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "Installing Chromium and chromedriver from the system's packages..."
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
