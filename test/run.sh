#!/usr/bin/env bash
# kiln's whole test suite: installs what the tests need (npm packages, the native addon, Debian tools),
# runs every test and the JSDoc examples (with a temp dir of their own that must be empty afterwards), then the short
# benchmark gate, and ends with one line "N passed, N failed".
# Servers (registries, token server, cloud stand-ins, git server) are started by the tests themselves.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p .work

# 1. System tools the integration tests drive (independent clients and peers). Root is needed to install;
#    without it, tests that need a missing tool skip with a message (and do not count as passed).
PKGS="docker-registry skopeo umoci buildah podman runc catatonit busybox-static debootstrap libdeflate-dev pigz hyperfine uidmap git openssl zstd xz-utils bzip2 python3 util-linux time qemu-user-static binfmt-support rpm"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test/run.sh: installing Debian packages:$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) \
      >.work/apt.log 2>&1 || { echo "test/run.sh: apt-get failed (see .work/apt.log); tests needing these tools will skip"; tail -5 .work/apt.log; }
  else
    echo "test/run.sh: not root, cannot install:$missing (tests needing them will skip)"
  fi
fi

# 1b. Other platforms: the qemu-user-static binfmt_misc handler for arm64 (RUN steps of arm64 images) and Debian's
#     arm64 busybox-static (the two-platform test base, test/fixtures/multiarch_image.ts). Tests skip without them.
if [ "$(id -u)" = 0 ]; then
  [ -f /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
  if [ -f /proc/sys/fs/binfmt_misc/status ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && command -v update-binfmts >/dev/null; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || echo "test/run.sh: cannot register the qemu-aarch64 binfmt_misc handler (arm64 RUN tests will skip)"
  fi
  if [ ! -x .work/arm64/busybox ] && command -v apt-get >/dev/null; then
    mkdir -p .work/arm64
    ( { dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64; } &&
      apt-get update -qq && cd .work/arm64 && rm -rf pkg ./*.deb && apt-get download -qq busybox-static:arm64 &&
      dpkg-deb -x ./busybox-static_*_arm64.deb pkg && cp pkg/bin/busybox busybox && rm -rf pkg ./*.deb
    ) >.work/apt-arm64.log 2>&1 || echo "test/run.sh: cannot download busybox-static:arm64 (see .work/apt-arm64.log; multi-platform tests will skip)"
  fi
fi

# 2. npm dependencies (deno itself, SDKs, cloud stand-ins) and the native addon (node-gyp via npm install).
if [ ! -x node_modules/.bin/deno ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund >.work/npm.log 2>&1 || { cat .work/npm.log; echo "0 passed, 1 failed"; exit 1; }
fi
# Rebuild the native addon when its sources are newer than the built module (npm install builds it first time).
if [ -f native/build.sh ] && { [ ! -f native/build/Release/kiln_native.node ] || [ -n "$(find native/src native/binding.gyp -newer native/build/Release/kiln_native.node 2>/dev/null | head -1)" ]; }; then
  sh native/build.sh
fi
# The same for the RUN helper (npm install's postinstall builds it the first time).
if [ -f native/helper/build.sh ] && { [ ! -x native/helper/build/kiln-run ] || [ -n "$(find native/helper -maxdepth 1 -name '*.[ch]' -newer native/helper/build/kiln-run 2>/dev/null | head -1)" ]; }; then
  sh native/helper/build.sh
fi
DENO="$ROOT/node_modules/.bin/deno"
export PATH="$ROOT/node_modules/.bin:$PATH"

# 3. Static checks count as tests too.
pass=0; fail=0
check() { # name, command...
  local name=$1; shift
  if "$@" >.work/check.log 2>&1; then pass=$((pass+1)); echo "ok   $name"; else fail=$((fail+1)); echo "FAIL $name"; tail -30 .work/check.log; fi
}
check "deno fmt --check" "$DENO" fmt --check
check "deno lint" "$DENO" lint
check "deno check" "$DENO" check mod.ts cli/main.ts test/ bench/

# 4. The test suite, then (when no specific tests were asked for) the JSDoc examples of lib/ and mod.ts
#    (`deno test --doc`: type-checked and run; blocks marked ```ts ignore are skipped). Both run with a temp dir of
#    their own, emptied first: tests never see each other's leftovers or the machine's, and what is left in it
#    afterwards is a leak (tests make theirs with test/fixtures/temp.ts tempDir(), which removes them).
TEST_TMP="$ROOT/.work/tmp"
if grep -q " $TEST_TMP/" /proc/self/mounts 2>/dev/null; then
  echo "test/run.sh: something is mounted below $TEST_TMP (a failed earlier run?); unmount it first:"
  grep " $TEST_TMP/" /proc/self/mounts | cut -d" " -f2 | sed 's/^/  /'
  echo "$pass passed, $((fail+1)) failed"
  exit 1
fi
rm -rf "$TEST_TMP" && mkdir -p "$TEST_TMP"
suite() { # junit file, deno test arguments...
  local junit=$1; shift
  rm -f "$junit"
  TMPDIR="$TEST_TMP" "$DENO" test -A --no-check=remote --junit-path="$junit" "$@"
  local rc=$? tp=0 tf=1
  [ -f "$junit" ] && read -r tp tf < <(node test/junit_summary.mjs "$junit")
  [ "$rc" != 0 ] && [ "$tf" = 0 ] && tf=1
  pass=$((pass+tp)); fail=$((fail+tf))
}
suite .work/junit.xml "${@:-test/}"
[ $# -eq 0 ] && suite .work/junit-doc.xml --doc 'lib/**/*.ts' mod.ts

# 5. The temp dir is as it was: empty.
# buildah (the oracle, not kiln) keeps its blob cache in $TMPDIR/buildah-cache: its own state, not a leak of ours.
left=$(find "$TEST_TMP" -mindepth 1 -maxdepth 1 ! -name buildah-cache | sort)
if [ -z "$left" ]; then
  pass=$((pass+1)); echo "ok   nothing left in the tests' temp dir ($TEST_TMP)"
else
  fail=$((fail+1)); echo "FAIL the tests left $(echo "$left" | wc -l) entries in their temp dir:"
  echo "$left" | sed 's/^/  /'
fi

# 6. Benchmark gate (short mode), when no specific tests were asked for.
if [ $# -eq 0 ] && [ -x bench/run.sh ]; then
  if bash bench/run.sh --short --gate; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL benchmark gate"; fi
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
