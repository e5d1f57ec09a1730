#!/usr/bin/env bash
# `npm run example`: builds examples/hello (FROM scratch: no registry, no network) into out/hello as an OCI layout,
# then shows what was built. Installs the npm dependencies first on a fresh checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/deno ]; then
  echo "example: installing npm dependencies (deno) ..."
  npm install --no-audit --no-fund >/dev/null
fi
DENO=node_modules/.bin/deno
rm -rf out/hello
"$DENO" run -A --v8-flags=--max-semi-space-size=1 cli/main.ts build \
  --context examples/hello \
  --dockerfile Dockerfile \
  --no-push \
  --oci-layout-path out/hello \
  --destination kiln.example/hello:latest \
  --digest-file out/hello.digest \
  --reproducible \
  --log-format text
echo "example: built $(cat out/hello.digest) into out/hello (OCI layout, tag latest)"
if command -v skopeo >/dev/null; then
  skopeo inspect --raw --config oci:out/hello:latest | head -c 600; echo
fi
