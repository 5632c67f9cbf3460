#!/usr/bin/env bash
# Builds the local image and runs it against the simulator on the host
# network: the image keeps its HEALTHCHECK, which finds the daemon from the
# configuration (no address written in it); the admin endpoint listens on
# every interface, as EXPOSE says; the daemon in the container publishes
# the sample week when triggered, then stops cleanly on SIGTERM.
#
#   deploy/container/test.sh [BINARY]
#
# Needs podman and runc (installed from Debian's packages when missing and
# root). The default crun fails on hybrid-cgroup kernels, hence runc.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-$here/../../target/debug/wfm-publisher}")"
tag="localhost/wfm-publisher:test"
# shellcheck source=deploy/simulated-platform.sh
. "$here/../simulated-platform.sh"
name="wfm-publisher-test-$$"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "podman and runc are needed" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
fi

"$here/build-local.sh" "$bin" "$tag"

work="$(mktemp -d)"
sim_pid=""
cleanup() {
  podman rm -f --runtime runc "$name" >/dev/null 2>&1 || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/etc" "$work/state/inbox/chicago"
sim_scenario "$work/scenario.toml"
sim_week_csv "$work/state/inbox/chicago"

sim_start "$bin" "$work"
base="$sim_base"

admin_port="$(free_port)"
printf '%s' "$sim_secret" > "$work/etc/client_secret"
printf 'test-admin-token' > "$work/etc/admin_token"
sim_config "$work/etc/config.toml" "$base" "$admin_port" \
  /var/lib/wfm-publisher/inbox/chicago /etc/wfm-publisher
chmod 0644 "$work/etc/"*
chown -R 65532:65532 "$work/state"

[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$tag")" ] || {
  echo "$tag has no HEALTHCHECK: built in the OCI format?" >&2; exit 1
}
[ "$(podman image inspect --format '{{index .Config.ExposedPorts "9464/tcp"}}' "$tag")" != "<no value>" ] || {
  echo "$tag does not EXPOSE 9464" >&2; exit 1
}
podman image inspect --format '{{.Config.Env}}' "$tag" | grep 'WFM_PUBLISHER__ADMIN__LISTEN=0.0.0.0:9464' >/dev/null || {
  echo "$tag does not listen on every interface" >&2; exit 1
}

# The image's own listen address, on a port of this test's (the host
# network is shared).
podman run -d --name "$name" --runtime runc \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host \
  -e "WFM_PUBLISHER__ADMIN__LISTEN=0.0.0.0:$admin_port" \
  --read-only \
  -v "$work/etc:/etc/wfm-publisher:ro" \
  -v "$work/state:/var/lib/wfm-publisher" \
  "$tag" >/dev/null

for _ in $(seq 100); do
  podman exec "$name" /usr/bin/wfm-publisher health 2>/dev/null && break
  sleep 0.2
done
podman exec "$name" /usr/bin/wfm-publisher health
podman healthcheck run "$name" || { podman logs "$name" | tail -20; echo "the image's HEALTHCHECK failed" >&2; exit 1; }
ss -ltnH "sport = :$admin_port" | awk '{ print $4 }' | grep -x "0.0.0.0:$admin_port" >/dev/null || {
  ss -ltn; echo "the admin endpoint does not listen on every interface" >&2; exit 1
}
echo "container healthy (its HEALTHCHECK, from the configuration), admin endpoint on 0.0.0.0:$admin_port"

outcome="$(sim_publish "$admin_port" test-admin-token)" || {
  podman logs "$name" | tail -20; echo "the week was not published (outcome: $outcome)" >&2; exit 1
}
echo "sample week published from the container"

podman stop --time 30 "$name" >/dev/null
code="$(podman inspect --format '{{.State.ExitCode}}' "$name")"
[ "$code" = 0 ] || { podman logs "$name" | tail -20; echo "exit code $code after SIGTERM" >&2; exit 1; }
podman logs "$name" 2>&1 | grep '"stopped"' >/dev/null || { echo "no clean stop in the log" >&2; exit 1; }
echo "stopped cleanly on SIGTERM (exit 0)"
