# Sourced by setup.sh and test.sh: install the Debian packages, configure and
# build into build/, and give go tool pprof a home for its caches (CI and
# containers may have no HOME). Sets $repo and $build, and defines step().
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

export HOME="${HOME:-$build/home}"
export GOCACHE="${GOCACHE:-$build/go-cache}"
export PPROF_TMPDIR="${PPROF_TMPDIR:-$build/pprof-tmp}"
mkdir -p "$HOME" "$GOCACHE" "$PPROF_TMPDIR"
