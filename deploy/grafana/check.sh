#!/usr/bin/env bash
# The Grafana dashboards' queries are PromQL Prometheus accepts: each
# panel's expressions, with Grafana's variables given values, become the
# recording rules of a scratch file that `promtool check rules` parses.
# That every metric they use exists is deploy/check-metrics.sh's check,
# against a live /metrics. jq and promtool (Debian's jq and prometheus
# packages) are installed when missing.
#
#   deploy/grafana/check.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/promtool.sh
. "$here/../promtool.sh"
need_promtool
if ! command -v jq >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "jq (Debian package jq) is needed" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq >/dev/null
fi

rules="$(mktemp --suffix=.yml)"
trap 'rm -f "$rules"' EXIT
for dashboard in "$here"/*.json; do
  name="$(basename "$dashboard")"
  # Every panel has a query, and every query an expression.
  empty="$(jq -r '[.panels[] | select(.type != "row") | select((.targets // []) | length == 0) | .title] | join(", ")' "$dashboard")"
  [ -z "$empty" ] || { echo "$name: panels without a query: $empty" >&2; exit 1; }
  {
    echo "groups:"
    echo "  - name: dashboard"
    echo "    rules:"
    jq -r '.panels[] | select(.type != "row") | .targets[] | .expr' "$dashboard" |
      sed -e 's/\$__rate_interval/1m/g' -e 's/\$__range/7d/g' -e 's/\$target/.*/g' |
      jq -R . | jq -s -r 'to_entries[] | "      - " + ({record: "dashboard:query_\(.key)", expr: .value} | tojson)'
  } > "$rules"
  promtool check rules "$rules" >/dev/null || { cat "$rules"; promtool check rules "$rules"; exit 1; }
  echo "$name: $(jq '[.panels[] | select(.type != "row") | .targets[]] | length' "$dashboard") queries, all valid PromQL"
done
