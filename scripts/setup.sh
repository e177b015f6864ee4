#!/usr/bin/env bash
# First command on a fresh Debian 12 machine: install the build dependencies
# from Debian's packages, build ppagent, profile a bundled example program and
# print its top functions with `go tool pprof`.
set -euo pipefail

# shellcheck source=scripts/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"

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

step "Top functions: go tool pprof -top -nodecount=10 ${profiles[0]#"$repo"/}"
go tool pprof -top -nodecount=10 "${profiles[0]}" </dev/null

printf '\nDone. Profile your own program with:\n'
printf '  %s run -- ./your-program [args...]\n' "${build#"$repo"/}/launcher/ppagent"
printf '  go tool pprof -top your-program.<pid>.cpu.pb.gz\n'
