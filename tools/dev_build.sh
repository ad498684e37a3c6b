#!/usr/bin/env bash
# Build the extensions in place for development (python -m pytest from the
# repository root then imports them).  A lock keeps concurrent builds from
# clobbering each other's objects in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec flock /tmp/fastact-build.lock python setup.py -q build_ext --inplace -j 2 "$@"
