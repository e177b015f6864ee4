#!/usr/bin/env bash
# Second command: build ppagent and run every test (unit tests through meson,
# then the integration suite with pytest). Needs no terminal; exits non-zero
# if any step fails. pytest's summary line is the last thing printed.
set -euo pipefail

# shellcheck source=scripts/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"

step "Unit tests: meson test -C build --suite unit"
meson test -C "$build" --suite unit --print-errorlogs </dev/null

step "Integration tests: /usr/bin/python3 -m pytest -v integration"
# Debian's pytest is installed for /usr/bin/python3 (not for a python3 that
# may come first on PATH).
export PPAGENT_BUILD_DIR="$build"
exec /usr/bin/python3 -m pytest -v integration </dev/null
