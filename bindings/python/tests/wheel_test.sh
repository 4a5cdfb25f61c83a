#!/usr/bin/env bash
# The installable package: builds a wheel from a copy of bindings/python that
# carries the built libbabysea.so, installs it into a fresh venv with
# --no-index (nothing is downloaded), and runs the binding tests against the
# installed copy, from a directory without the sources and with
# BABYSEA_LIBRARY unset (the wheel's own library must be the one loaded).
# Usage: wheel_test.sh <libbabysea.so> <bindings/python dir>
set -euo pipefail
lib="$1"
src="$2"
# The first python3 that has setuptools and wheel (Debian's python3-setuptools
# and python3-wheel; another python3 may come first on PATH).
py=""
for c in python3 /usr/bin/python3; do
  if "$c" -c 'import setuptools, wheel' 2>/dev/null; then py="$c"; break; fi
done
[ -n "$py" ] || { echo "FAIL: no python3 with setuptools and wheel (apt install python3-setuptools python3-wheel)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/pkg"
rm -rf "$tmp/pkg/tests" "$tmp/pkg/build" "$tmp/pkg"/*.egg-info
find "$tmp/pkg" -name __pycache__ -prune -exec rm -rf {} +
cp -L "$lib" "$tmp/pkg/babysea/libbabysea.so"
"$py" -m pip wheel --quiet --no-deps --no-build-isolation --no-index -w "$tmp/dist" "$tmp/pkg"
wheel=$(ls "$tmp/dist"/babysea-*.whl)
echo "wheel: $(basename "$wheel")"
case "$(basename "$wheel")" in
  *-none-any.whl) echo "FAIL: a wheel that carries a native library must be a platform wheel" >&2; exit 1 ;;
esac
"$py" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for want in ("babysea/libbabysea.so", "babysea/py.typed", "babysea/_ffi.py"):
    if want not in names:
        sys.exit("FAIL: the wheel lacks " + want)
PY
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --no-index "$wheel"
mkdir "$tmp/run"
cp "$src/tests/test_babysea.py" "$tmp/run/"
unset BABYSEA_LIBRARY PYTHONPATH
cd "$tmp/run"
"$tmp/venv/bin/python" - "$tmp/venv" <<'PY'
import os, sys
import babysea
from babysea import _ffi
here = os.path.dirname(os.path.abspath(babysea.__file__))
if not here.startswith(os.path.abspath(sys.argv[1])):
    sys.exit("FAIL: imported " + here + ", not the installed copy")
if os.path.abspath(_ffi.lib._name) != os.path.join(here, "libbabysea.so"):
    sys.exit("FAIL: loaded " + _ffi.lib._name + ", not the wheel's library")
print("installed copy:", here)
PY
"$tmp/venv/bin/python" -m unittest discover -v -s "$tmp/run"
