#!/usr/bin/env bash
# kiln's benchmark suite. Generates its fixtures in a temp dir (tmpfs when available), measures kiln's hot paths
# against floors measured in the same run (find -printf, sha256sum, tar|gzip -6, tar|pigz -6), best of N with
# A/B alternation, and prints every ratio. Thresholds: bench/thresholds.json.
#
#   bash bench/run.sh [--short] [--gate] [--micro] [--no-builds] [--json FILE] [--only name,name]
#
#   --short   small fixtures (50k-file tree, 5k small files, 64 MB tree); about 40 s. CI runs this with --gate.
#   --gate    exit 1 when a ratio is worse than its threshold for this mode.
#   --no-builds  skip bench/builds.ts: full cold builds (build + push) of bench/dockerfiles/* by kiln vs
#             `buildah bud --layers`, both on one tmpfs (short: `small` and `mixed20k`, ~100 s; full: small, files20k,
#             multistage, and kiln's peak RSS on a 2 GiB layer, several minutes). --only also selects its builds.
#             bench/cache.ts runs with the builds: fully cached, one-file and one-arg rebuilds with --cache=true vs
#             buildah's --cache-from/--cache-to, from a fresh runner state each build (~25 s short); then
#             bench/copy_context.ts: COPY . of a 20k-file (full: 200k) context with 200 ignore patterns vs cp -a (~6 s).
#   --micro   also run the `deno bench` micro-benchmarks (bench/*_bench.ts that use Deno.bench) with --json
#             into .work/bench-micro.json and print their summary.
set -uo pipefail
cd "$(dirname "$0")/.."
DENO=${DENO:-node_modules/.bin/deno}
[ -x "$DENO" ] || DENO=deno
mkdir -p .work
args=() bargs=() micro=0 builds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --micro) micro=1 ;;
    --no-builds) builds=0 ;;
    --short|--gate) args+=("$1"); bargs+=("$1") ;;
    --only) args+=("$1" "$2"); bargs+=("$1" "$2"); shift ;;
    --json|--runs|--dir) args+=("$1" "$2"); shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
has_json=0
for a in "${args[@]}"; do [ "$a" = --json ] && has_json=1; done
[ $has_json = 1 ] || args+=(--json .work/bench-results.json)

rc=0
"$DENO" run -A bench/e2e.ts "${args[@]}" || rc=$?
if [ $builds = 1 ]; then
  "$DENO" run -A bench/builds.ts "${bargs[@]}" --json .work/bench-builds.json || rc=$?
  cargs=()
  for a in "${bargs[@]}"; do [ "$a" = --short ] || [ "$a" = --gate ] && cargs+=("$a"); done
  "$DENO" run -A bench/cache.ts "${cargs[@]}" --json .work/bench-cache.json || rc=$?
  "$DENO" run -A bench/copy_context.ts "${cargs[@]}" --json .work/bench-copy-context.json || rc=$?
fi

if [ $micro = 1 ]; then
  files=()
  for f in bench/walk_bench.ts bench/hash_bench.ts bench/tar_bench.ts bench/compress_bench.ts; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ ${#files[@]} -gt 0 ]; then
    "$DENO" bench -A --json "${files[@]}" >.work/bench-micro.json 2>.work/bench-micro.log || { echo "micro benchmarks failed (.work/bench-micro.log)"; rc=1; }
    node -e '
      const r = JSON.parse(require("fs").readFileSync(".work/bench-micro.json", "utf8"));
      for (const b of r.benches) {
        const ok = b.results[0] && b.results[0].ok;
        console.log(`${(b.group || "").padEnd(10)} ${b.name.padEnd(40)} ${ok ? (ok.avg / 1e6).toFixed(2) + " ms avg, " + (ok.min / 1e6).toFixed(2) + " ms min" : "failed"}`);
      }' || true
  fi
fi
exit $rc
