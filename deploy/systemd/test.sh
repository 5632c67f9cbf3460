#!/usr/bin/env bash
# Runs the package under a real systemd: Debian bookworm (systemd 252)
# booted in a podman container, the .deb installed by docs/DEPLOYMENT.md's
# install block, run as it stands (the test's configuration as the edit),
# against the simulator started inside as a transient unit. Checks: the
# package made its user and its conffile, `man wfm-publisher` opens and
# bash completes from it; every Documentation= of the unit is there;
# `systemctl start` returns after READY=1 with the
# unit active (running) as the package's user, seccomp on; a triggered run publishes with the
# secret from LoadCredential=; `systemctl reload` keeps the PID and reloads;
# a stopped (hung) daemon is aborted by the watchdog and restarted; `systemctl
# stop` ends with Result=success, status 0; the journal holds text lines at
# their levels' priorities (`journalctl -p warning` filters); the
# example configuration the package ships starts too, and one naming the
# root-only secret files starts on the credentials with a warning. Any
# failure prints the journal's tail. The container is removed on every exit
# path.
#
#   deploy/systemd/test.sh [PACKAGE.deb]   (default: target/dist's, which
#                                          scripts/release makes)
#
# Needs root, podman, runc and debootstrap (installed from Debian's packages
# when missing). The image is built once from the Debian mirror apt already
# uses and cached as $image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
deb="$(realpath "${1:-$(ls "$repo"/target/dist/wfm-publisher_*_amd64.deb 2>/dev/null | head -1)}")"
# man-db and bash-completion: to open the package's man page and completion.
image="localhost/wfm-publisher-systemd:bookworm-man"
name="wfm-publisher-systemd-test-$$"
bookworm_glibc="2.36"
# shellcheck source=deploy/simulated-platform.sh
. "$repo/deploy/simulated-platform.sh"

# Bounded: the whole test, image build included, within 10 minutes.
if [ -z "${WFM_SYSTEMD_TEST_BOUNDED:-}" ]; then
  WFM_SYSTEMD_TEST_BOUNDED=1 exec timeout -k 10 600 "$0" "$@"
fi

[ "$(id -u)" = 0 ] || { echo "deploy/systemd/test.sh needs root (podman --privileged)" >&2; exit 1; }
[ -f "$deb" ] || { echo "no package at $deb: make one first (scripts/release --debug)" >&2; exit 1; }
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

# The package's binary, also the simulator's.
work="$(mktemp -d)"
dpkg-deb -x "$deb" "$work/deb"
bin="$work/deb/usr/bin/wfm-publisher"

# The binary runs inside bookworm: dynamically linked against a glibc no
# newer than bookworm's.
check_binary() {
  local needed
  needed="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  [ -n "$needed" ] || { echo "$bin links no glibc symbols (static?): expected a glibc build" >&2; exit 1; }
  if [ "$(printf '%s\n%s\n' "$needed" "$bookworm_glibc" | sort -V | tail -1)" != "$bookworm_glibc" ]; then
    echo "$bin needs glibc $needed, bookworm has $bookworm_glibc: build it on bookworm (or older)" >&2
    exit 1
  fi
  echo "binary needs glibc $needed (bookworm has $bookworm_glibc)"
}
check_binary

# A minimal bookworm with systemd, from the mirror apt uses here.
bookworm_mirror() {
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' |
    awk '$2 == "bookworm" { print $1; exit }'
}
build_image() {
  local mirror rootfs
  mirror="$(bookworm_mirror)"
  if [ -z "$mirror" ]; then
    apt-get update -qq
    mirror="$(bookworm_mirror)"
  fi
  [ -n "$mirror" ] || { echo "no bookworm mirror in apt's sources" >&2; exit 1; }
  rootfs="$(mktemp -d)"
  echo "building $image from $mirror (once)"
  # procps: /bin/kill, which ExecReload= needs; minbase lacks it.
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,man-db,bash-completion \
    bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -20 "$rootfs.log"; rm -rf "$rootfs" "$rootfs.log"; echo "debootstrap failed" >&2; exit 1
  }
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}
podman image exists "$image" || build_image

cleanup() {
  podman rm -f --runtime runc "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

in_container() { timeout 60 podman exec "$name" "$@"; }
prop() { in_container systemctl show -P "$2" "$1"; }
fail() {
  in_container journalctl --no-pager -n 30 -u wfm-publisher -u wfm-sim >&2 || true
  echo "FAIL: $*" >&2
  exit 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls until COMMAND succeeds.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "$what (waited ${seconds}s)"
}
journal_has() { in_container journalctl -u wfm-publisher -o cat --no-pager | grep -F "$1" >/dev/null; }
journal_count() { in_container journalctl -u wfm-publisher -o cat --no-pager | grep -cF "$1" || true; }

# Without --privileged every sandboxed unit fails with 226/NAMESPACE; without
# a shared /, LoadCredential= comes up empty.
podman run -d --name "$name" --runtime runc \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host \
  --privileged --systemd=always "$image" \
  /bin/sh -c 'mount --make-rshared / && exec /sbin/init' >/dev/null
booted() { in_container systemctl is-system-running --wait | grep -xE 'running|degraded' >/dev/null; }
wait_for 60 "systemd did not boot" booted
echo "systemd $(in_container systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p') booted"

# What the install block finds in its directory: the package, and as the
# editor a script that writes the test's configuration (the simulator, an
# admin port of its own). The week to publish goes to the example's inbox.
sim_port="$(free_port)"
admin_port="$(free_port)"
src="$work/src"
mkdir -p "$src/srv/wfm/inbox/chicago"
cp "$deb" "$bin" "$src/"
sim_scenario "$src/scenario.toml"
sim_config "$src/config.toml" "http://127.0.0.1:$sim_port" "$admin_port" /srv/wfm/inbox/chicago
printf '#!/bin/sh\ncp /src/config.toml "$1"\n' > "$src/edit-config"
chmod 755 "$src/edit-config"
sim_week_csv "$src/srv/wfm/inbox/chicago"
chmod -R a+rX "$src"
sed -n '/<!-- install: deploy\/systemd\/test.sh runs this block -->/,/^```$/p' "$repo/docs/DEPLOYMENT.md" |
  sed '1,2d;$d' | sed "s/'the-client-secret'/'$sim_secret'/" > "$src/install.sh"
grep -q 'systemctl enable --now wfm-publisher' "$src/install.sh" || fail "no install block in docs/DEPLOYMENT.md"
grep -qF "./$(basename "$deb")" "$src/install.sh" ||
  fail "docs/DEPLOYMENT.md installs $(sed -n 's|.*\(\./wfm-publisher_[^ ]*\.deb\).*|\1|p' "$src/install.sh"), not the package made: $(basename "$deb")"
podman cp "$src" "$name:/src"
in_container cp -a /src/srv/wfm /srv/

# Shorter watchdog and restart delay for the test; no core file from the abort.
in_container mkdir -p /etc/systemd/system/wfm-publisher.service.d
in_container sh -c 'printf "[Service]\nWatchdogSec=3s\nRestartSec=1s\nLimitCORE=0\n" > /etc/systemd/system/wfm-publisher.service.d/test.conf'

in_container systemd-run --unit wfm-sim --quiet \
  /src/wfm-publisher --log-format json sim --scenario /src/scenario.toml --as-written --listen "127.0.0.1:$sim_port"
wait_for 20 "the simulator did not start" curl -sS -o /dev/null "http://127.0.0.1:$sim_port/"
echo "simulator running as wfm-sim.service on 127.0.0.1:$sim_port"

# The install, as docs/DEPLOYMENT.md says. `enable --now` returns once the
# start job is done, which for Type=notify is after READY=1.
in_container env EDITOR=/src/edit-config DEBIAN_FRONTEND=noninteractive \
  bash -euo pipefail -c 'cd /src && . ./install.sh' >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2; fail "docs/DEPLOYMENT.md's install block failed"
}
sed 's/^/  install: /' "$work/install.log" | grep -v 'Reading database\|^  install: \(Selecting\|Preparing\|Unpacking\|Reading\|Building\)' || true

# What the package brought: its user, its conffile, the man page, the
# completion, and every document the unit names.
in_container getent passwd wfm-publisher >/dev/null || fail "the package made no wfm-publisher user"
in_container dpkg-query -W -f='${Conffiles}' wfm-publisher | grep ' /etc/wfm-publisher/config.toml ' >/dev/null ||
  fail "/etc/wfm-publisher/config.toml is not the package's conffile"
in_container sh -c 'MANPAGER=cat man wfm-publisher 2>/dev/null' | grep 'EXIT STATUS' >/dev/null ||
  fail "man wfm-publisher does not open the package's page"
in_container sh -c 'man -w wfm-publisher-publish' >/dev/null || fail "no man page for wfm-publisher publish"
for doc in $(prop wfm-publisher Documentation); do
  case "$doc" in
    man:*) page="${doc#man:}"; in_container man -w "${page%%(*}" >/dev/null || fail "Documentation=$doc is not installed" ;;
    file://*) in_container test -f "${doc#file://}" || fail "Documentation=$doc is not installed" ;;
  esac
done
completed="$(in_container bash -c '. /usr/share/bash-completion/bash_completion
  _completion_loader wfm-publisher
  f=$(complete -p wfm-publisher | sed -n "s/.*-F \([^ ]*\).*/\1/p")
  COMP_WORDS=(wfm-publisher publish --ad); COMP_CWORD=2
  COMP_LINE="wfm-publisher publish --ad"; COMP_POINT=${#COMP_LINE}
  $f wfm-publisher --ad publish; printf "%s\n" "${COMPREPLY[@]}"')"
grep -qx -- '--adopt' <<<"$completed" || fail "bash does not complete wfm-publisher publish --ad: $completed"
echo "package: user wfm-publisher, conffile, man wfm-publisher, bash completion, the unit's Documentation="
state="$(prop wfm-publisher ActiveState)/$(prop wfm-publisher SubState)"
[ "$state" = active/running ] || fail "after systemctl start: $state, not active/running"
pid="$(prop wfm-publisher MainPID)"
[ "$(prop wfm-publisher StatusText)" = ready ] || fail "no STATUS=ready from the daemon"
seccomp="$(in_container sed -n 's/^Seccomp:\t//p' "/proc/$pid/status")"
[ "$seccomp" = 2 ] || fail "seccomp mode $seccomp for PID $pid, not 2 (filter)"
user="$(in_container ps -o user= -p "$pid" | tr -d ' ')"
[ "$user" = wfm-publisher ] || fail "the service runs as $user, not the package's wfm-publisher"
echo "started: active (running), READY=1, PID $pid as wfm-publisher, seccomp filter on"

token="$(in_container cat /etc/wfm-publisher/admin_token)"
outcome="$(sim_publish "$admin_port" "$token")" || fail "the triggered run did not publish (outcome: $outcome)"
in_container grep -q client_secret /etc/wfm-publisher/config.toml && fail "the configuration names a secret file"
echo "triggered run published, secret and admin token from LoadCredential="

reloads="$(journal_count 'configuration reloaded')"
reloaded() { [ "$(journal_count 'configuration reloaded')" -gt "$reloads" ]; }
in_container systemctl reload wfm-publisher || fail "systemctl reload failed"
wait_for 10 "no 'configuration reloaded' after systemctl reload" reloaded
[ "$(prop wfm-publisher MainPID)" = "$pid" ] || fail "systemctl reload changed the PID"
echo "reloaded, same PID $pid"

in_container kill -STOP "$pid"
restarted() { [ "$(prop wfm-publisher NRestarts)" = 1 ] && [ "$(prop wfm-publisher SubState)" = running ]; }
wait_for 30 "the watchdog did not restart the stopped daemon" restarted
journal_has "Watchdog timeout" || fail "no watchdog timeout in the journal"
new_pid="$(prop wfm-publisher MainPID)"
[ "$new_pid" != "$pid" ] || fail "still PID $pid after the watchdog"
echo "watchdog: PID $pid stopped, aborted and restarted as $new_pid (NRestarts=1)"

in_container systemctl stop wfm-publisher
result="$(prop wfm-publisher Result) $(prop wfm-publisher ExecMainStatus)"
[ "$result" = "success 0" ] || fail "after systemctl stop: Result and status $result, not success 0"
echo "stopped: Result=success, status 0"

# The daemon's own lines (its stderr stream): text, not JSON, each stored
# with its level's priority, which `journalctl -p` filters on.
own_lines() { in_container journalctl -q _SYSTEMD_UNIT=wfm-publisher.service -o cat --no-pager "$@"; }
own_lines > "$work/journal"
for message in "wfm-publisher running" "configuration reloaded" "stopped"; do
  grep -qF "INFO $message" "$work/journal" || fail "no INFO line '$message' in the journal"
done
! grep -q '^{' "$work/journal" || fail "JSON lines in the journal: the journal format expected"
info_priority="$(in_container journalctl _SYSTEMD_UNIT=wfm-publisher.service -o json --no-pager |
  python3 -c 'import json,sys; print(sorted({json.loads(l)["PRIORITY"] for l in sys.stdin if "wfm-publisher running" in json.loads(l).get("MESSAGE", "")}))')"
[ "$info_priority" = "['6']" ] || fail "the start-up line's priority: $info_priority, not ['6'] (info)"
! own_lines -p warning | grep ' INFO ' >/dev/null || fail "journalctl -p warning shows INFO lines"
echo "journal: text lines (running, reloaded, stopped) with their priorities"

# The example configuration as the package ships it: the unit starts,
# warning about nothing. Its targets must not catch up a run against
# the example hosts, and its admin port is kept off the shared host
# network's 9464.
in_container sh -c "printf '[Service]\nEnvironment=WFM_PUBLISHER__ADMIN__LISTEN=127.0.0.1:$admin_port WFM_PUBLISHER__TARGETS__CHICAGO__CATCH_UP=0s WFM_PUBLISHER__TARGETS__NEW_YORK__CATCH_UP=0s\n' > /etc/systemd/system/wfm-publisher.service.d/example.conf"
in_container systemctl daemon-reload
# starts_with CONFIG: the unit starts with CONFIG (a path in the container)
# installed as its configuration; prints the warnings it logged.
starts_with() {
  local before
  before="$(own_lines -p warning | wc -l)"
  in_container install -m 0644 "$1" /etc/wfm-publisher/config.toml
  in_container systemctl start wfm-publisher || fail "$1 does not start"
  [ "$(prop wfm-publisher SubState)" = running ] || fail "$1: not running"
  in_container systemctl stop wfm-publisher
  own_lines -p warning | tail -n "+$((before + 1))"
}
[ -z "$(starts_with /usr/share/doc/wfm-publisher/examples/wfm-publisher.toml)" ] ||
  fail "warnings with the example configuration"
echo "the example configuration starts as the package ships it"

# The example as it was, naming the root-only files the dynamic user cannot
# read: each gives way to its credential, and a warning says so.
sed -e 's|^\[platform\]$|&\nclient_secret_file = "/etc/wfm-publisher/client_secret"|' \
  -e 's|^\[admin\]$|&\ntoken_file = "/etc/wfm-publisher/admin_token"|' \
  "$repo/config/wfm-publisher.toml" > "$work/files.toml"
podman cp "$work/files.toml" "$name:/src/files.toml"
warned="$(starts_with /src/files.toml)"
for key in platform.client_secret_file admin.token_file; do
  grep -F "$key: cannot read" <<<"$warned" | grep -F "Permission denied" | grep -F "using the systemd credential" >/dev/null ||
    fail "no warning that $key was unreadable and its credential used, in: $warned"
done
echo "unreadable secret files: the credentials used, with a warning each:"
sed 's/^/  /' <<<"$warned"
echo "systemd test passed"
