#!/usr/bin/env bash
# Clean release build of heroku-autoscale: wall time, binary size, crates compiled.
#
# A Heroku deploy compiles every dependency from scratch, so this builds into an empty target
# directory (default /tmp/cleanbuild, removed first; set BENCH_BUILD_DIR to change it). It does
# not touch the project's own target/. The machine's load average is printed before and after:
# on a shared machine other builds inflate the time, so read the figure with it.
#
# Usage: scripts/bench-build.sh
set -euo pipefail

cd "$(dirname "$0")/.."
dir="${BENCH_BUILD_DIR:-/tmp/cleanbuild}"
case "$dir" in
/tmp/*) ;;
*) echo "BENCH_BUILD_DIR must be under /tmp (it is deleted first): $dir" >&2; exit 2 ;;
esac
rm -rf "$dir"
# Fetch first so the timing is compiling only, not downloading.
cargo fetch --quiet

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
CARGO_TARGET_DIR="$dir" cargo build --release --quiet --bin heroku-autoscale
end=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

binary="$dir/release/heroku-autoscale"
bytes=$(stat -c %s "$binary")
crates=$(find "$dir/release/deps" -name '*.rlib' | wc -l)

printf '%-34s %s\n' "figure" "measured"
printf '%-34s %.1f s\n' "clean release build (wall)" "$(echo "$end - $start" | bc)"
printf '%-34s %d bytes (%.2f MiB)\n' "binary size (stripped)" "$bytes" "$(echo "$bytes / 1048576" | bc -l)"
printf '%-34s %d\n' "library crates compiled" "$crates"
printf '%-34s %s\n' "load average before (1/5/15 min)" "$load_before"
printf '%-34s %s\n' "load average after (1/5/15 min)" "$load_after"
printf '%-34s %s\n' "cores" "$(nproc)"
