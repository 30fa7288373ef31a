#!/usr/bin/env bash
# Prints the main loop of one cached kernel's SASS (run on the GPU machine after a bench/test run):
#   bash scripts/sass-excerpt.sh NAME_PATTERN [LINES_BEFORE] [LINES_AFTER]
# The main loop is located by its QGMMA (FP8 wgmma) instructions; LDL/STL anywhere are counted.
set -uo pipefail
pattern=${1:?kernel name pattern}
before=${2:-40}
after=${3:-120}
cache=${BUNGEMM_CACHE_DIR:-/tmp/bungemm-cache}
tmp=$(mktemp -d)
for f in $(grep -l "$pattern" -r "$cache" 2>/dev/null | head -1); do
  offset=$(LC_ALL=C grep -obUaP '\x7fELF' "$f" | head -n 1 | cut -d: -f1)
  tail -c +"$((offset + 1))" "$f" >"$tmp/k.cubin"
  cuobjdump --dump-sass "$tmp/k.cubin" >"$tmp/k.sass"
  echo "== $(grep -m1 'Function :' "$tmp/k.sass")"
  echo "QGMMA $(grep -c QGMMA "$tmp/k.sass")  LDL $(grep -c 'LDL' "$tmp/k.sass")  STL $(grep -c 'STL' "$tmp/k.sass")  lines $(wc -l <"$tmp/k.sass")"
  first=$(grep -n QGMMA "$tmp/k.sass" | head -1 | cut -d: -f1)
  sed -n "$((first - before)),$((first + after))p" "$tmp/k.sass" | sed -E 's@/\*[0-9a-f]{4}\*/@@; s@ +/\* 0x[0-9a-f]+ \*/@@' | grep -v '^ *$'
done
rm -rf "$tmp"
