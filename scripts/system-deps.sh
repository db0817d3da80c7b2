#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (browser, database server…), listed one per
# line in scripts/apt-packages.txt. Installs only the missing ones, and says which before it
# does; apt's own output goes to a log file (SYSTEM_DEPS_LOG, default in the temp folder) and
# only a one-line summary is printed. Needs root or sudo when something is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log="${SYSTEM_DEPS_LOG:-${TMPDIR:-/tmp}/eo-timelapse-system-deps.log}"
mapfile -t packages < <(grep -v '^\s*#' "$here/apt-packages.txt" | awk 'NF {print $1}')
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all ${#packages[@]} present (${packages[*]})"
  exit 0
fi
echo "system packages: installing ${missing[*]} (apt log: $log)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
started=$SECONDS
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "system packages: apt-get failed; the last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
echo "system packages: installed ${#missing[@]} (${missing[*]}) in $((SECONDS - started)) s"
