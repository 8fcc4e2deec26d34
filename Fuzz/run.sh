#!/usr/bin/env bash
# run.sh SCRATCH SECONDS TARGET... : runs SCRATCH/debug/BaleFuzz (built by `make fuzz`) on each TARGET for
# SECONDS, from the seed corpus in SCRATCH/corpus/TARGET (make-seeds.py), and prints one line per target:
#   fuzz TARGET: S s, N executions, C crashes[, the crash input]
# A crash input is kept in SCRATCH/crashes/TARGET/ (minimise it with -minimize_crash=1, then add it to
# testdata/fuzz/TARGET/ as crash-WHAT so FuzzRegressionTests replays it). Exits 1 when any target crashed.
set -uo pipefail
scratch=$1 seconds=$2
shift 2
binary="$scratch/debug/BaleFuzz"
# The load targets write an archive and a store for every input: on a tmpfs they run about 7 times
# as fast as on disk (fsync). Removed at the end, with what the targets left in it.
tmp=$(mktemp -d "$([ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/bale-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0
summary=""
for target in "$@"; do
  corpus="$scratch/corpus/$target" crashes="$scratch/crashes/$target" log="$scratch/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  # The JSON targets (and the archives, which hold JSON) get the keys and media types as a dictionary.
  case "$target" in
    manifest|index|config|docker-manifest|load) dict=(-dict="$(dirname "$0")/dicts/json.dict") ;;
    change) dict=(-dict="$(dirname "$0")/dicts/change.dict") ;;
    *) dict=() ;;
  esac
  start=$(date +%s.%N)
  # Swift's backtracer would spend seconds on every crash report; libFuzzer's own report names the
  # input. Leak checking is off: the Swift runtime's caches read as leaks to LeakSanitizer.
  TMPDIR="$tmp" BALE_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
    "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -detect_leaks=0 \
      -print_final_stats=1 "${dict[@]}" -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1
  status=$?
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$crashes" -type f | wc -l)
  line=$(printf 'fuzz %s: %.0f s, %s executions, %s crashes' "$target" "$elapsed" "${runs:-?}" "$found")
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    line="$line (exit $status; $(find "$crashes" -type f | head -1); log $log)"
    grep -E 'BaleFuzz |ERROR: |Fatal error|SUMMARY' "$log" | head -5 >&2 || true
  fi
  echo "$line"
  summary+="$line"$'\n'
done
printf '%s' "$summary" > "$scratch/summary.txt"
exit $failed
