#!/usr/bin/env bash
# Build benchmarks (issue 4): prints one JSON line per benchmark.
#  1. snapshot_100k: a 100,000-file rootfs, one file changed, snapshot (walk + diff + layer entries) vs
#     `find ROOT -printf` on the same tree, best of N, for each walker available (ts, native).
#  2. build_20k: a full build of a Dockerfile whose RUN creates 20,000 files, kiln vs `buildah bud`
#     (--isolation chroot, vfs), both with their state on the same tmpfs, alternated, best of N.
# Usage: bash bench/build_bench.sh [--short]     (--short: 20k-file snapshot tree, 1 build run)
# Needs root for the build part (sandbox, buildah); skips it otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DENO="$ROOT/node_modules/.bin/deno"
SHORT=0; [ "${1:-}" = "--short" ] && SHORT=1
FILES=100000; RUNS=5; BRUNS=3
[ $SHORT = 1 ] && { FILES=20000; RUNS=3; BRUNS=1; }
TMPFS=/dev/shm
[ -d "$TMPFS" ] && [ -w "$TMPFS" ] || TMPFS=$(mktemp -d)
# buildah derives an image name from the layout path: keep it lower-case.
BASE="$TMPFS/kiln-bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$BASE"
trap 'rm -rf "$BASE"' EXIT

for w in ts native; do
  "$DENO" run -A bench/build_snapshot_bench.ts --files "$FILES" --runs "$RUNS" --walker "$w" --dir "$BASE/snap-$w" \
    2>/dev/null || echo "{\"bench\":\"snapshot_100k\",\"walker\":\"$w\",\"skipped\":\"walker unavailable\"}"
  rm -rf "$BASE/snap-$w"
done

if [ "$(id -u)" != 0 ] || ! command -v buildah >/dev/null || ! command -v umoci >/dev/null; then
  echo '{"bench":"build_20k","skipped":"needs root, buildah and umoci"}'
  exit 0
fi
"$DENO" eval "import { buildBusyboxLayout } from '$ROOT/test/fixtures/busybox_image.ts'; buildBusyboxLayout('$BASE/busybox');"
mkdir -p "$BASE/ctx"
cat > "$BASE/ctx/Dockerfile" <<'DF'
FROM base
RUN mkdir /many && cd /many && i=0; while [ $i -lt 20000 ]; do echo "file $i" > f$i; i=$((i+1)); done
DF
sed "s|^FROM base|FROM oci:$BASE/busybox:latest|" "$BASE/ctx/Dockerfile" > "$BASE/ctx/Dockerfile.buildah"
cat > "$BASE/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$BASE/buildah-run"
graphroot = "$BASE/buildah-graph"
CONF
now() { date +%s.%N; }
kiln_once() {
  rm -rf "$BASE/kiln-out" "$BASE/kiln-work"
  local t0; t0=$(now)
  "$DENO" run -A cli/main.ts build -c "$BASE/ctx" -f Dockerfile --no-push --oci-layout-path "$BASE/kiln-out" \
    --work-dir "$BASE/kiln-work" --build-context "base=oci-layout://$BASE/busybox:latest" --log-format=text -v warn >/dev/null
  echo "$(now) - $t0" | bc
}
buildah_once() {
  CONTAINERS_STORAGE_CONF="$BASE/storage.conf" buildah rmi -a -f >/dev/null 2>&1 || true
  local t0; t0=$(now)
  CONTAINERS_STORAGE_CONF="$BASE/storage.conf" buildah bud --isolation chroot -q -f "$BASE/ctx/Dockerfile.buildah" \
    -t bench "$BASE/ctx" >"$BASE/buildah.log" 2>&1 || { cat "$BASE/buildah.log" >&2; exit 1; }
  echo "$(now) - $t0" | bc
}
kbest=""; bbest=""
for _ in $(seq "$BRUNS"); do
  k=$(kiln_once); b=$(buildah_once)
  if [ -z "$kbest" ] || [ "$(echo "$k < $kbest" | bc)" = 1 ]; then kbest=$k; fi
  if [ -z "$bbest" ] || [ "$(echo "$b < $bbest" | bc)" = 1 ]; then bbest=$b; fi
done
CONTAINERS_STORAGE_CONF="$BASE/storage.conf" buildah rmi -a -f >/dev/null 2>&1 || true
printf '{"bench":"build_20k","files":20000,"kilnS":%.2f,"buildahS":%.2f,"ratio":%.2f,"tmpfs":"%s"}\n' \
  "$kbest" "$bbest" "$(echo "$kbest / $bbest" | bc -l)" "$TMPFS"
