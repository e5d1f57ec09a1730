#!/usr/bin/env bash
# Builds kiln as one executable (out/kiln) with `bun build --compile` (deno compile cannot fetch its runtime
# offline here), then stages the root filesystem of the FROM-scratch executor image in out/executor-root:
#   /kiln/executor        the kiln binary (ENTRYPOINT)
#   /kiln/kiln-run        the RUN sandbox helper (static), when built
#   /lib*/...             the shared libraries the binary links (glibc, found with ldd)
#   /etc/ssl/certs/...    CA certificates for registries
#   /tmp                  (1777) bun unpacks embedded files here
# The top-level Dockerfile copies that tree; `scripts/executor-image.sh` builds it with kiln itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/bun ] || npm install --no-audit --no-fund >/dev/null
mkdir -p out
node_modules/.bin/bun build --compile --minify cli/main.ts --outfile out/kiln >/dev/null
root=out/executor-root
rm -rf "$root"
mkdir -p "$root/kiln" "$root/etc/ssl/certs" "$root/tmp" "$root/workspace" "$root/kaniko/.docker"
chmod 1777 "$root/tmp"
cp out/kiln "$root/kiln/executor"
[ -x native/helper/build/kiln-run ] && cp native/helper/build/kiln-run "$root/kiln/kiln-run"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
for lib in $(ldd out/kiln | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "out/kiln ($(du -h out/kiln | cut -f1)) and $root staged"
