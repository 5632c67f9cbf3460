#!/usr/bin/env bash
# The alerting rules: `promtool check rules` (syntax, templates), then
# `promtool test rules` (alerts.test.yml: each alert fires when it should,
# with its labels and text, and stays quiet when it should not). Which
# metrics the rules use is checked against a live /metrics by
# deploy/check-metrics.sh.
#
#   deploy/prometheus/check.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/promtool.sh
. "$here/../promtool.sh"
need_promtool
cd "$here"
promtool check rules alerts.yml
promtool test rules alerts.test.yml
