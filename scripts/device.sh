#!/usr/bin/env bash
# The one GPU workflow, in two halves (README "GPU workflow"):
#
#   bun run device pack                     here: fill the git-ignored .device/ with a compressed
#                                           copy of this Bun and the runtime packages the GPU run
#                                           imports (the GPU machine has no registry access).
#   bash scripts/device.sh remote STAGE...  there, inside the repo copy (.device carried along):
#                                           unpack Bun, then run each stage in order.
#
#   bun run device ab-pack REV              here: put cuda/ as of git revision REV into .device/ab/
#                                           for the ab stage.
#   bash scripts/device.sh cuda-hash        here: the hash of cuda/ that machine.log prints there.
#
# Stages: test  = the full `bun test` (CPU and GPU tests)
#         gputest = `bun test test/gpu` (BUNGEMM_TEST_FILTER narrows it by test name)
#         bench = `bun run bench` (writes bench/results/)
#         sass  = SASS of every cached cubin; per kernel the QGMMA (FP8 wgmma), LDL and STL
#                 (local memory = spills) instruction counts
#         probe = `bun bench/l2Probe.ts --rounds 3` (memory-bound transfers after the flush and with L2
#                 clean; the per-token cast against its own traffic and its exact-quotient variant)
#         ab    = interleaved A/B of the working tree's kernels against .device/ab/cuda:
#                 AB_ROUNDS (default 2) rounds of `bun $AB_SCRIPT $AB_ARGS` (default script
#                 bench/tune.ts; AB_ARGS is shell-quoted), new then old in each round, each side
#                 with its own kernel cache; ab-new.log, ab-old.log and the summary
#                 (bench/abSummary.ts) come back. Only for changes inside cuda/ that keep the
#                 kernels' template parameters: the TypeScript side is the working tree's.
# Each stage's output is tee'd into $OUT/<stage>.log; the bench record files come back too.
# $OUT stays flat and holds at most 8 files (the device tool's limit).
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE_DIR=.device
# The working tree that travels is capped at 64 MiB; keep the carried part well under it.
MAX_PACK_BYTES=$((55 * 1024 * 1024))
# Packages `bun test` and `bun run bench` import at run time (dependencies + mitata for bench/host.ts).
RUNTIME_PACKAGES=(zod mitata)

die() {
  echo "device.sh: $*" >&2
  exit 1
}

pack() {
  local bun_path bun_id
  bun_path=$(command -v bun) || die "bun is not on PATH"
  bun_path=$(readlink -f "$bun_path")
  mkdir -p "$DEVICE_DIR"
  # Recompressing takes ~30 s on two cores: do it only when this Bun differs from the packed one.
  bun_id="$(bun --version) $(sha256sum "$bun_path" | cut -d' ' -f1)"
  if [ ! -s "$DEVICE_DIR/bun.xz" ] || [ "$(cat "$DEVICE_DIR/bun.id" 2>/dev/null)" != "$bun_id" ]; then
    echo "device.sh: compressing $bun_path (bun $(bun --version))" >&2
    xz -T2 -6 -c "$bun_path" >"$DEVICE_DIR/bun.xz.tmp" || die "xz failed"
    mv "$DEVICE_DIR/bun.xz.tmp" "$DEVICE_DIR/bun.xz"
    echo "$bun_id" >"$DEVICE_DIR/bun.id"
  fi

  rm -rf "$DEVICE_DIR/node_modules"
  mkdir -p "$DEVICE_DIR/node_modules"
  local pkg
  for pkg in "${RUNTIME_PACKAGES[@]}"; do
    [ -d "node_modules/$pkg" ] || die "node_modules/$pkg is missing: run bun install first"
    cp -rL "node_modules/$pkg" "$DEVICE_DIR/node_modules/$pkg"
  done

  local bytes
  bytes=$(du -sb "$DEVICE_DIR" | cut -f1)
  if [ "$bytes" -ge "$MAX_PACK_BYTES" ]; then
    die "$DEVICE_DIR is $bytes bytes, over the $MAX_PACK_BYTES byte budget"
  fi
  echo "device.sh: $DEVICE_DIR ready ($((bytes / 1024 / 1024)) MiB)." >&2
  echo "Next: the device tool's run with carry [\".device\"] and command" >&2
  echo "  bash scripts/device.sh remote test bench sass" >&2
}

# Unpacks Bun outside the repo (so it is not mistaken for project files) and links the packages.
setup_remote() {
  [ -s "$DEVICE_DIR/bun.xz" ] || die "$DEVICE_DIR/bun.xz is missing: run 'bun run device pack' here and carry .device"
  mkdir -p /tmp/bungemm-bin
  xz -d <"$DEVICE_DIR/bun.xz" >/tmp/bungemm-bin/bun && chmod +x /tmp/bungemm-bin/bun || die "could not unpack bun"
  export PATH="/tmp/bungemm-bin:$PATH"
  if [ -e node_modules ] && [ ! -L node_modules ]; then
    die "node_modules exists and is not the link this script makes; remove it"
  fi
  ln -sfn "$DEVICE_DIR/node_modules" node_modules
  # One cache folder that the sass stage can find again.
  export BUNGEMM_CACHE_DIR="${BUNGEMM_CACHE_DIR:-/tmp/bungemm-cache}"
  export BUNGEMM_PRINT_COMPILE="${BUNGEMM_PRINT_COMPILE:-1}"
}

print_machine() {
  echo "== machine =="
  nvidia-smi -L || echo "nvidia-smi -L failed"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
  # The device tool copies the working tree, but the copy's .git can be older than it: the sources
  # that ran are named by their hash (`bash scripts/device.sh cuda-hash` here prints the same).
  echo "bun $(bun --version); git $(git rev-parse --short HEAD 2>/dev/null || echo '?') (may be stale); cuda/ $(cuda_hash)"
  echo "BUNGEMM_CACHE_DIR=$BUNGEMM_CACHE_DIR"
}

# sha256 (first 16 hex digits) of every file under cuda/, in path order.
cuda_hash() {
  find cuda -type f -print0 | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -c1-16
}

# The whole suite once (GPU tests run inside it; CPU tests too, as CI runs them). On the GPU
# machine a GPU test file that finds no usable device fails instead of skipping (test/support/gpuGate.ts).
stage_test() {
  BUNGEMM_REQUIRE_GPU=1 bun test
}

# Only the GPU tests, optionally filtered by BUNGEMM_TEST_FILTER (a bun test name pattern).
stage_gputest() {
  if [ -n "${BUNGEMM_TEST_FILTER:-}" ]; then
    BUNGEMM_REQUIRE_GPU=1 bun test test/gpu -t "$BUNGEMM_TEST_FILTER"
  else
    BUNGEMM_REQUIRE_GPU=1 bun test test/gpu
  fi
}

stage_bench() {
  local rc=0 marker
  marker=$(mktemp)
  bun run bench || rc=1
  # Only this run's record files: older dated records in bench/results/ must not crowd $OUT.
  local f
  for f in bench/results/*.json bench/results/*.md; do
    [ -f "$f" ] || continue
    if [ "$f" -nt "$marker" ] || [ "$(basename "$f")" = latest.json ] || [ "$(basename "$f")" = latest.md ]; then
      cp "$f" "$OUT/"
    fi
  done
  rm -f "$marker"
  return $rc
}

# A cache entry is a small header followed by the cubin (src/jit/cache.ts); cuobjdump wants the
# bare ELF, so each entry is cut at its first ELF magic.
extract_cubins() {
  local dest=$1 file offset
  mkdir -p "$dest"
  while IFS= read -r -d '' file; do
    offset=$(LC_ALL=C grep -obUaP '\x7fELF' "$file" | head -n 1 | cut -d: -f1)
    [ -n "$offset" ] || continue
    tail -c +"$((offset + 1))" "$file" >"$dest/$(basename "$file").cubin"
  done < <(find "$BUNGEMM_CACHE_DIR" -type f -print0 2>/dev/null)
}

stage_probe() {
  bun bench/l2Probe.ts --rounds 3
}

stage_sass() {
  local cubins=/tmp/bungemm-sass sass="$OUT/sass.txt"
  rm -rf "$cubins"
  extract_cubins "$cubins"
  local count
  count=$(find "$cubins" -name '*.cubin' | wc -l)
  echo "$count cubins from $BUNGEMM_CACHE_DIR"
  [ "$count" -gt 0 ] || return 1
  : >"$sass"
  local cubin
  for cubin in "$cubins"/*.cubin; do
    cuobjdump --dump-sass "$cubin" >>"$sass" 2>&1 || echo "cuobjdump failed on $cubin" >>"$sass"
  done
  # One line per kernel: QGMMA is the FP8 wgmma; any LDL/STL means registers spilled to local memory.
  printf '%-8s %-6s %-6s %s\n' QGMMA LDL STL kernel
  awk '
    function flush() { if (name != "") printf "%-8d %-6d %-6d %s\n", q, l, s, name }
    /Function : / { flush(); name = $NF; q = 0; l = 0; s = 0; next }
    /QGMMA/ { q++ }
    /[^A-Z]LDL[ .]/ { l++ }
    /[^A-Z]STL[ .]/ { s++ }
    END { flush() }
  ' "$sass"
  # The full dump is capped to stay under the tool's 16 MiB per file.
  if [ "$(stat -c %s "$sass")" -gt $((15 * 1024 * 1024)) ]; then
    truncate -s $((15 * 1024 * 1024)) "$sass"
  fi
}

# Copies cuda/ as of a git revision into .device/ab/cuda (carried with .device).
ab_pack() {
  local rev=${1:-}
  [ -n "$rev" ] || die "ab-pack needs a git revision (the kernels to compare against)"
  git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || die "'$rev' is not a commit"
  rm -rf "$DEVICE_DIR/ab"
  mkdir -p "$DEVICE_DIR/ab"
  git archive "$rev" cuda | tar -x -C "$DEVICE_DIR/ab" || die "could not export cuda/ at $rev"
  echo "device.sh: $DEVICE_DIR/ab/cuda holds cuda/ at $(git rev-parse --short "$rev")" >&2
}

# See the header: the working tree's cuda/ is kept aside and put back however the stage ends.
stage_ab() {
  [ -d "$DEVICE_DIR/ab/cuda" ] || die "$DEVICE_DIR/ab/cuda is missing: run 'bun run device ab-pack REV' here"
  [ -n "${AB_ARGS:-}" ] || die "AB_ARGS is empty: give the sweep's arguments, e.g. --shapes '4096,4096,7168' --configs '[{}]'"
  local rounds=${AB_ROUNDS:-2} script=${AB_SCRIPT:-bench/tune.ts} saved=/tmp/bungemm-ab-working-cuda r
  local -a args
  eval "args=($AB_ARGS)"
  rm -rf "$saved" && cp -r cuda "$saved" || die "could not keep cuda/ aside"
  # shellcheck disable=SC2064
  trap "rm -rf cuda && cp -r '$saved' cuda" RETURN
  : >"$OUT/ab-new.log"
  : >"$OUT/ab-old.log"
  for ((r = 1; r <= rounds; r++)); do
    rm -rf cuda && cp -r "$saved" cuda
    BUNGEMM_CACHE_DIR=/tmp/bungemm-ab-new bun "$script" "${args[@]}" >>"$OUT/ab-new.log" 2>&1
    rm -rf cuda && cp -r "$DEVICE_DIR/ab/cuda" cuda
    BUNGEMM_CACHE_DIR=/tmp/bungemm-ab-old bun "$script" "${args[@]}" >>"$OUT/ab-old.log" 2>&1
  done
  bun bench/abSummary.ts "$OUT/ab-new.log" "$OUT/ab-old.log"
}

remote() {
  [ $# -gt 0 ] || die "remote needs stages: test gputest bench sass probe ab"
  [ -n "${OUT:-}" ] || die "OUT is not set (remote runs on the device machine)"
  setup_remote
  print_machine | tee "$OUT/machine.log"
  local stage rc=0
  for stage in "$@"; do
    case "$stage" in
      test | gputest | bench | sass | probe | ab) ;;
      *) die "unknown stage '$stage' (test, gputest, bench, sass, probe, ab)" ;;
    esac
    echo "== $stage =="
    "stage_$stage" 2>&1 | tee "$OUT/$stage.log"
    if [ "${PIPESTATUS[0]}" != 0 ]; then
      echo "== $stage FAILED =="
      rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  pack) pack ;;
  ab-pack)
    shift
    ab_pack "$@"
    ;;
  remote)
    shift
    remote "$@"
    ;;
  cuda-hash) cuda_hash ;;
  *)
    echo "usage: bash scripts/device.sh pack | ab-pack REV | cuda-hash | remote STAGE... (stages: test gputest bench sass probe ab)" >&2
    exit 2
    ;;
esac
