#!/usr/bin/env bash
# Installs the Debian packages mortar needs that are missing. Idempotent and quiet when
# nothing is missing. Usage: scripts/deps.sh [build|test|bench]...  (default: build test)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libjansson-dev zlib1g-dev libyaml-dev libssl-dev libnghttp2-dev libnats-dev libpq-dev
            libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libluajit-5.1-dev libexpat1-dev liburing-dev nodejs npm)
test_pkgs=(nats-server postgresql postgresql-client libcmocka-dev clang libclang-rt-14-dev jq curl openssl nginx nghttp2-client prometheus nodejs npm chromium
           podman runc buildah mmdebstrap podman-compose yamllint uidmap)
bench_pkgs=(nginx postgresql wrk nghttp2-client openssl time bc)

want=()
groups=("$@")
((${#groups[@]})) || groups=(build test)
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${build_pkgs[@]}") ;;
    test)  want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$g' (build, test, bench)" >&2; exit 2 ;;
  esac
done

# Node.js may come from elsewhere than Debian (NodeSource's nodejs package carries npm, and
# Debian's npm package would conflict with it): a command on the PATH is as good as the package.
provides() {
  case $1 in
    nodejs) command -v node >/dev/null ;;
    npm) command -v npm >/dev/null ;;
    *) return 1 ;;
  esac
}

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
  provides "$p" && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "deps.sh: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
