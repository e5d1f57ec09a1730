#!/usr/bin/env bash
# Builds kiln as one executable (out/kiln) with `bun build --compile` (deno compile cannot fetch its runtime
# offline here), then stages the root filesystems the top-level Dockerfile copies. Everything the executor image
# ships lives under /kaniko, so in place (the container's / is the build's rootfs) a RUN step sees the base image's
# files and nothing of kiln's, and snapshots leave /kaniko out:
#   out/executor-root/kaniko/executor      the kiln binary (ENTRYPOINT), its ELF interpreter set to /kaniko/lib/ld.so
#   out/executor-root/kaniko/warmer        a link to it: run under that name it is `kiln warm`
#   out/executor-root/kaniko/kiln-run      the RUN sandbox helper (static), when built
#   out/executor-root/kaniko/kiln_native.node  the N-API addon (native walker, libdeflate gzip), when built
#                                          (KILN_NATIVE_ADDON points there; its libraries go to /kaniko/lib)
#   out/executor-root/kaniko/lib/          the dynamic loader and the shared libraries the binary links (ldd)
#   out/executor-root/kaniko/ssl/certs/    CA certificates (SSL_CERT_DIR: a job may add a CA file there)
#   out/executor-root/kaniko/.docker/      DOCKER_CONFIG (config.json mounted or written by `kiln login`)
#   out/executor-root/kaniko/tmp/          TMPDIR (1777): kiln's work dir, bun's unpacked files
#   out/executor-root/workspace/           the default context
#   out/busybox-root/                      static busybox and its applets as links, for the debug image's /busybox
# `scripts/executor-image.sh` builds the images with kiln itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/bun ] || npm install --no-audit --no-fund >/dev/null
mkdir -p out
node_modules/.bin/bun build --compile --minify cli/main.ts --outfile out/kiln >/dev/null
root=out/executor-root
rm -rf "$root"
mkdir -p "$root/kaniko/lib" "$root/kaniko/ssl/certs" "$root/kaniko/tmp" "$root/kaniko/.docker" "$root/workspace"
chmod 1777 "$root/kaniko/tmp"
cp out/kiln "$root/kaniko/executor"
ln -s executor "$root/kaniko/warmer"
[ -x native/helper/build/kiln-run ] && cp native/helper/build/kiln-run "$root/kaniko/kiln-run"
cp /etc/ssl/certs/ca-certificates.crt "$root/kaniko/ssl/certs/"
interp=$(readelf -l out/kiln | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
cp -L "$interp" "$root/kaniko/lib/ld.so"
addon=native/build/Release/kiln_native.node
deps=out/kiln
if [ -f "$addon" ]; then
  cp "$addon" "$root/kaniko/kiln_native.node"
  deps="$deps $addon"
fi
for lib in $(for f in $deps; do ldd "$f"; done | grep -o '/[^ ]*' | grep -v "^$interp\$" | sort -u); do
  cp -L "$lib" "$root/kaniko/lib/"
done
node scripts/set-interp.mjs "$root/kaniko/executor" /kaniko/lib/ld.so
bb=out/busybox-root
rm -rf "$bb"
mkdir -p "$bb"
cp /bin/busybox "$bb/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$bb/$applet"
done
echo "out/kiln ($(du -h out/kiln | cut -f1)), $root and $bb staged"
