#!/usr/bin/env bash
# First command on a fresh Debian 12 machine: install the build dependencies
# from Debian's packages, build ppagent, profile a bundled example program and
# print its top functions with `go tool pprof`.
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

# The example (integration/workloads/cpu_split.c): THREADS threads each burn
# SECONDS of CPU time, 70% of it in burn_seventy() and 30% in burn_thirty().
example="$build/integration/cpu_split"
example_args=(2 2)
if [ ! -x "$example" ]; then
  echo "setup: example program $example was not built" >&2
  exit 1
fi

out="$build/example-profile"
rm -rf "$out"
mkdir -p "$out"

step "Profiling the example: ppagent run -o ${out#"$repo"/} -- ${example#"$repo"/} ${example_args[*]}"
"$build/launcher/ppagent" run -o "$out" -- "$example" "${example_args[@]}"

profiles=("$out"/*.cpu.pb.gz)
if [ ! -f "${profiles[0]}" ]; then
  echo "setup: no profile was written to $out" >&2
  exit 1
fi

# go tool pprof needs a home for its caches and temporary files; provide them
# under build/ so it also works without HOME (CI, containers).
export HOME="${HOME:-$build/home}"
export GOCACHE="${GOCACHE:-$build/go-cache}"
export PPROF_TMPDIR="${PPROF_TMPDIR:-$build/pprof-tmp}"
mkdir -p "$HOME" "$GOCACHE" "$PPROF_TMPDIR"

step "Top functions: go tool pprof -top -nodecount=10 ${profiles[0]#"$repo"/}"
go tool pprof -top -nodecount=10 "${profiles[0]}" </dev/null

printf '\nDone. Profile your own program with:\n'
printf '  %s run -- ./your-program [args...]\n' "${build#"$repo"/}/launcher/ppagent"
printf '  go tool pprof -top your-program.<pid>.cpu.pb.gz\n'
