#!/usr/bin/env bash
# Puts `myikev2` on the PATH: a link in /usr/local/bin (or $MYIKEV2_BIN_DIR)
# to this checkout's build, since the commands the tool prints (inspect, tear
# down) are typed as `myikev2 ...`. A link of an earlier setup (another
# clone) is replaced; anything else is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${MYIKEV2_BIN_DIR:-/usr/local/bin}/myikev2"
if [ ! -w "$(dirname "$bin")" ]; then
  echo "setup: cannot write $(dirname "$bin") (not root?); no myikev2 on the PATH (npx myikev2 runs this checkout's)" >&2
elif { [ ! -e "$bin" ] && [ ! -L "$bin" ]; } || case "$(readlink "$bin" || true)" in */dist/cli/myikev2.js) true ;; *) false ;; esac; then
  ln -sfn "$PWD/dist/cli/myikev2.js" "$bin"
else
  echo "setup: $bin is not a link to a myikev2 build; left as it is (npx myikev2 runs this checkout's)" >&2
fi
