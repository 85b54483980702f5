#!/usr/bin/env bash
# Installs what myikev2 and its tests need on a Debian machine (run as root):
# Debian packages, then the npm packages pinned in package-lock.json, then
# the build (the TypeScript, the command-line and server bundles), and puts
# `myikev2` on the PATH (/usr/local/bin/myikev2, a link to this build).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(openssh-server openssh-client strongswan-charon strongswan-swanctl
      libstrongswan-standard-plugins libcharon-extra-plugins iproute2 iputils-ping util-linux procps psmisc tmux python3)
# A registry or mirror that stalls for a moment (EIDLETIMEOUT) should not fail a setup: three tries.
retry() {
  local i
  for i in 1 2 3; do
    "$@" && return 0
    [ "$i" -lt 3 ] && { echo "setup: '$*' failed; trying again in 10 s" >&2; sleep 10; }
  done
  return 1
}
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  retry apt-get update -qq
  retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package starts nothing here (no systemd), but make sure no stray
# system sshd or charon holds ports the tests use.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  retry npm ci --no-audit --no-fund
fi
npm run build
bash scripts/link-bin.sh
