#!/usr/bin/env bash
# Installs the Debian bookworm packages babysea needs, only those missing.
set -euo pipefail
PKGS=(build-essential cmake pkg-config g++ clang libclang-rt-14-dev
      libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
      libsimdjson-dev libsqlite3-dev libsodium-dev catch2 libssl-dev
      libpq-dev postgresql redis-server libhiredis-dev nodejs npm python3
      python3-venv python3-pip python3-setuptools python3-wheel chromium)
missing=()
for p in "${PKGS[@]}"; do
  # nodejs/npm may come from elsewhere on the machine: accept a working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v python3 >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
