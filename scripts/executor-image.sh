#!/usr/bin/env bash
# Builds kiln's three images from the top-level Dockerfile with kiln itself, offline, into docker archives:
#   out/executor.tar        kiln/executor:latest   (--target executor)
#   out/executor-debug.tar  kiln/executor:debug    (--target debug: plus /busybox)
#   out/warmer.tar          kiln/warmer:latest     (--target warmer)
# Extra arguments go to every `kiln build` (e.g. --oci-layout-path is not useful here; --reproducible is set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/binary.sh
build() {
  node_modules/.bin/deno run -A cli/main.ts build --context . --dockerfile Dockerfile --target "$1" \
    --destination "$2" --no-push --tar-path "$3" --reproducible --verbosity warn "${@:4}" >/dev/null
  echo "built $2 into $3"
}
build executor kiln/executor:latest out/executor.tar "$@"
build debug kiln/executor:debug out/executor-debug.tar "$@"
build warmer kiln/warmer:latest out/warmer.tar "$@"
