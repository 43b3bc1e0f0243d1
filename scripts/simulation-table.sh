#!/usr/bin/env bash
# Prints the table docs/simulation.md keeps: every built-in scenario, the policies seed,
# autoscaler and oracle, at the settings in the environment (e.g. AUTOSCALE_MAX_DYNOS=20).
# Re-run it whenever the scaling code changes, and paste the result into docs/simulation.md.
#   scripts/simulation-table.sh                         # the default settings
#   AUTOSCALE_MAX_DYNOS=20 scripts/simulation-table.sh  # the yardstick settings
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
binary=target/release/heroku-autoscale
echo "| scenario | policy | slow or failed % | p95 ms | dyno-hours | scale calls (up/down) | θU | θO |"
echo "|---|---|---|---|---|---|---|---|"
for scenario in daily spike ramp slow-db noisy night; do
  "$binary" simulate --scenario "$scenario" "$@" |
    awk -v scenario="$scenario" '
      $1 == "seed" || $1 == "autoscaler" || $1 == "oracle" {
        row[$1] = sprintf("| %s | %s | %s | %s | %s | %d (%s/%s) | %s | %s |",
          scenario, $1, $3, $5, $8, $9 + $10, $9, $10, $12, $13)
      }
      END { print row["seed"]; print row["autoscaler"]; print row["oracle"] }'
done
