#!/usr/bin/env bash
# Builds the executor image (top-level Dockerfile) with kiln itself into out/executor.tar (docker-archive,
# tag kiln/executor:latest) and out/executor (OCI layout). Extra arguments go to `kiln build`, e.g. --destination.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/binary.sh
node_modules/.bin/deno run -A cli/main.ts build --context . --dockerfile Dockerfile \
  --destination kiln/executor:latest --no-push --tar-path out/executor.tar --reproducible "$@"
