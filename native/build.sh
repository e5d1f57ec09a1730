#!/bin/sh
# Builds kiln's N-API addon (native/build/Release/kiln_native.node) with node-gyp against the running Node's
# own headers. Run by `npm install` (the "install" script). It never fails the install: without a compiler
# or headers kiln uses its TypeScript walker and hasher (and says so at --verbosity=debug).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$root/.work"
log="$root/.work/native-build.log"
gyp="$root/node_modules/.bin/node-gyp"
[ -x "$gyp" ] || gyp=$(command -v node-gyp 2>/dev/null || true)
if [ -z "$gyp" ] || ! command -v node >/dev/null 2>&1; then
  echo "kiln: node-gyp or node missing; native addon not built (kiln uses the TypeScript walker)" >&2
  exit 0
fi
# Headers: npm's nodedir setting if any, else the prefix of the node binary when it ships include/node
# (Debian's nodejs does), else node-gyp's default (a download, which fails offline).
nodedir=${npm_config_nodedir:-}
if [ -z "$nodedir" ]; then
  prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
  [ -f "$prefix/include/node/node_api.h" ] && nodedir=$prefix
fi
set -- rebuild -C "$here"
[ -n "$nodedir" ] && set -- "$@" "--nodedir=$nodedir"
if "$gyp" "$@" >"$log" 2>&1; then
  echo "kiln: built native addon $here/build/Release/kiln_native.node"
else
  echo "kiln: native addon not built (see $log); kiln uses the TypeScript walker" >&2
  tail -5 "$log" >&2
fi
exit 0
