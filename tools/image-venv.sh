#!/bin/sh
# The virtual environment of one image target, as the Dockerfile makes it and tests/packaging checks it:
#   tools/image-venv.sh VENV EXTRA WHEEL [LOCK]      (LOCK defaults to locks/EXTRA.lock)
# 1. exactly the lock's pins, every file's hash checked (`make lock` writes the hashes);
# 2. gpufleet[EXTRA] from the wheel, offline: it installs only gpufleet itself, and fails if the wheel's extra
#    needs a package the lock left out (a lock out of step with pyproject.toml), instead of fetching it.
# PYTHON picks the interpreter the environment is made from (default: python3 on PATH).
set -eu
venv=$1
extra=$2
wheel=$3
lock=${4:-locks/$extra.lock}
uv venv --quiet --python "${PYTHON:-python3}" "$venv"
uv pip install --quiet --python "$venv/bin/python" --require-hashes -r "$lock"
uv pip install --quiet --python "$venv/bin/python" --offline "gpufleet[$extra] @ $wheel"
