#!/bin/sh
# Builds kiln's RUN helper (native/helper/build/kiln-run) with the system C compiler: static if the C library
# allows it, dynamic otherwise. Run by `npm install` (postinstall) and `npm run build:helper`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build/kiln-run"
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "kiln: no C compiler ($cc); the RUN helper $out is not built (sandbox mode will report it missing)" >&2
  exit 0
fi
mkdir -p "$here/build"
flags="-O2 -Wall -Wextra -std=c11"
srcs="$here/kiln-run.c $here/seccomp.c $here/seccomp_compat32.c"
# shellcheck disable=SC2086
if ! "$cc" $flags -static -o "$out.tmp" $srcs 2>/dev/null; then
  "$cc" $flags -o "$out.tmp" $srcs
fi
mv "$out.tmp" "$out"
echo "kiln: built $out"
