# Sourced by the deploy checks that need promtool: Debian's prometheus
# package has it, installed here when missing (as root; apt-get, as
# scripts/test installs what the tests need).
# shellcheck shell=bash
need_promtool() {
  command -v promtool >/dev/null && return 0
  [ "$(id -u)" = 0 ] || { echo "promtool (Debian package prometheus) is needed" >&2; return 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
