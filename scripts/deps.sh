#!/usr/bin/env bash
# Installs the Debian packages cinder needs to build and test, when any is missing.
# Called by `make deps`, which every other target depends on. Needs root (or sudo) and apt-get.
set -euo pipefail

pkgs=(build-essential pkg-config libopenblas-dev libcjson-dev libmicrohttpd-dev libuv1-dev libcmocka-dev
      libpcre2-dev libcurl4-openssl-dev libsqlite3-dev curl ca-certificates python3-numpy
      clang libclang-rt-14-dev) # clang and libFuzzer's runtime: the fuzz targets (make fuzz, make test)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# The end-to-end tests of the server run the official openai SDK under Node: Debian's nodejs and npm, unless a
# node is already on the PATH (it may come from elsewhere than dpkg, so ask the shell, not dpkg).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# The playground's browser test drives Debian's chromium (tests/e2e/test_playground.sh); it looks for
# /usr/bin/chromium, so that path decides, whoever installed it.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
