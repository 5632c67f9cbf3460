#!/usr/bin/env bash
# Starts the daemon against the simulator, fetches a live /metrics before
# any run, and checks it with `promtool check metrics` (Debian's prometheus
# package, installed when missing and root): every metric has HELP and TYPE,
# names and units follow Prometheus' conventions. Then it publishes a week
# (histograms have no series before their first sample) and every wfm_
# metric the Grafana dashboards (deploy/grafana/) and the alerting rules
# (deploy/prometheus/alerts.yml) name must be in /metrics: a renamed metric
# would leave a panel empty and an alert silent.
#
#   deploy/check-metrics.sh [BINARY]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-$here/../target/debug/wfm-publisher}")"
# shellcheck source=deploy/simulated-platform.sh
. "$here/simulated-platform.sh"

# shellcheck source=deploy/promtool.sh
. "$here/promtool.sh"
need_promtool

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/inbox" "$work/secrets"
sim_scenario "$work/scenario.toml"
sim_start "$bin" "$work"
pids+=("$sim_pid")
base="$sim_base"

admin_port="$(free_port)"
printf '%s' "$sim_secret" > "$work/secrets/client_secret"
printf 'metrics-check-token' > "$work/secrets/admin_token"
sim_config "$work/config.toml" "$base" "$admin_port" "$work/inbox" "$work/secrets"
printf '\n[store]\npath = "%s/state.db"\n' "$work" >> "$work/config.toml"
"$bin" --log-format json run --config "$work/config.toml" 2>"$work/daemon.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$admin_port/metrics" > "$work/metrics" 2>/dev/null && break
  sleep 0.1
done
[ -s "$work/metrics" ] || { cat "$work/daemon.log"; echo "no /metrics from the daemon" >&2; exit 1; }
promtool check metrics < "$work/metrics"
echo "promtool check metrics: $(grep -c '^# HELP' "$work/metrics") metrics, no problems"

sim_week_csv "$work/inbox"
outcome="$(sim_publish "$admin_port" metrics-check-token)" ||
  { cat "$work/daemon.log"; echo "the week was not published: $outcome" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$admin_port/metrics" > "$work/metrics"
promtool check metrics < "$work/metrics"

used="$(grep -ohE '\bwfm_[a-z0-9_]+' "$here"/grafana/*.json "$here/prometheus/alerts.yml" | sort -u)"
missing=0
for name in $used; do
  # A sample, or a family's TYPE (a histogram's samples are NAME_bucket…).
  if ! grep -qE "^($name(\{| )|# TYPE $name )" "$work/metrics"; then
    echo "deploy/grafana or deploy/prometheus uses $name, which /metrics does not have" >&2
    missing=1
  fi
done
[ "$missing" = 0 ] || exit 1
echo "the dashboards and alerts use $(echo "$used" | wc -l) metrics, all in /metrics"
