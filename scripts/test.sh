#!/usr/bin/env bash
# Second command: build ppagent and run every test (unit tests through meson,
# then the integration suite with pytest). Needs no terminal; exits non-zero
# if any step fails. pytest's summary line is the last thing printed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build="$repo/build"

step() { printf '\n==> %s\n' "$*"; }

step "Installing dependencies (Debian packages)"
scripts/install-deps.sh

step "Configuring ($build)"
if [ -f "$build/meson-private/coredata.dat" ]; then
  meson setup --reconfigure "$build"
else
  meson setup "$build"
fi

step "Building"
ninja -C "$build"

# go tool pprof (used by the integration tests as the reader) needs a home for
# its caches and temporary files; provide them under build/ if there is none.
export HOME="${HOME:-$build/home}"
export GOCACHE="${GOCACHE:-$build/go-cache}"
export PPROF_TMPDIR="${PPROF_TMPDIR:-$build/pprof-tmp}"
mkdir -p "$HOME" "$GOCACHE" "$PPROF_TMPDIR"

step "Unit tests: meson test -C build --suite unit"
meson test -C "$build" --suite unit --print-errorlogs </dev/null

step "Integration tests: /usr/bin/python3 -m pytest -v integration"
# Debian's pytest is installed for /usr/bin/python3 (not for a python3 that
# may come first on PATH).
export PPAGENT_BUILD_DIR="$build"
exec /usr/bin/python3 -m pytest -v integration </dev/null
