#!/usr/bin/env bash
# Install the Debian 12 packages needed to build, test and use ppagent.
# Installs only what is missing (checked with dpkg -s); runs `apt-get update`
# only when something has to be installed. Works as root, or via sudo otherwise.
# Needs no terminal: safe in CI.
set -euo pipefail

packages=(
  meson ninja-build g++ pkg-config
  libunwind-dev libdw-dev libelf-dev elfutils libc6-dbg
  libprotobuf-dev protobuf-compiler zlib1g-dev libc6-dev
  libgtest-dev python3-pytest python3-pytest-timeout python3-protobuf
  golang-go scdoc google-perftools libgoogle-perftools-dev
  redis-server redis-tools
  libjemalloc2 libjemalloc-dev heaptrack
  libmicrohttpd-dev clang libclang-rt-14-dev curl
  nginx-light sqlite3 perl valgrind
  # integration/test_real_world.py and bench/run_real_bench.py: Debian's programs
  # under the agent (readelf from binutils reads their symbols).
  binutils openssl openssh-client git postgresql-15 python3
  # integration/test_cpu_signal.py: programs that handle SIGPROF themselves (vim with
  # +eval, not vim-tiny; gprof from binutils reads the -pg program's gmon.out).
  vim
  # integration/test_flame.py: the flame-graph page in a real browser (headless
  # Chromium driven through chromedriver by Selenium).
  chromium chromium-driver python3-selenium
)
# node: a node already on PATH (e.g. NodeSource's) is used as it is; otherwise
# Debian's nodejs.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs)
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg -s succeeds for removed-but-not-purged packages too: check the status line.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: not root and sudo not found; install them as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
