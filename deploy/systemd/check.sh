#!/usr/bin/env bash
# Checks the systemd unit: `systemd-analyze verify` is clean and
# `systemd-analyze security` rates its exposure at 2.0 or lower.
#
#   deploy/systemd/check.sh [path/to/wfm-publisher]
#
# verify insists that ExecStart's binary exists, so the unit is checked as a
# copy whose ExecStart points at a locally built binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/wfm-publisher.service"
bin="${1:-$here/../../target/debug/wfm-publisher}"
max_exposure="2.0"

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: skipping the unit check" >&2
  exit 0
fi
[ -x "$bin" ] || { echo "no executable at $bin: build first (cargo build)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|/usr/bin/wfm-publisher|$(realpath "$bin")|" "$unit" > "$work/wfm-publisher.service"

# --man=no: the man page Documentation= names comes with the package; the
# real-systemd test (deploy/systemd/test.sh) opens it there.
systemd-analyze verify --man=no "$work/wfm-publisher.service"
echo "systemd-analyze verify: clean"

# A core dump would hold the secrets.
grep -qx 'LimitCORE=0' "$unit" || { echo "$unit: LimitCORE=0 is missing" >&2; exit 1; }

report="$(systemd-analyze security --offline=true "$work/wfm-publisher.service")"
exposure="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')"
[ -n "$exposure" ] || { printf '%s\n' "$report"; echo "could not read the exposure level" >&2; exit 1; }
echo "systemd-analyze security: exposure $exposure (at most $max_exposure)"
if awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e > m) }'; then
  printf '%s\n' "$report" | grep '✗' >&2 || true
  echo "exposure $exposure is above $max_exposure" >&2
  exit 1
fi
