#!/usr/bin/env bash
# Packages a locally built wfm-publisher into an image without pulling a
# base image: the binary, the libraries ldd says it links, a passwd entry
# for uid 65532, and an empty state directory.
#
#   deploy/container/build-local.sh [BINARY] [TAG]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../target/release/wfm-publisher}"
tag="${2:-localhost/wfm-publisher:local}"
[ -x "$bin" ] || { echo "no executable at $bin: cargo build --release first" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/var/lib/wfm-publisher" "$root/etc/wfm-publisher"
cp "$bin" "$root/usr/bin/wfm-publisher"
# Every library the dynamic linker will load, at the path it looks for it.
ldd "$bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "nonroot:x:65532:65532:nonroot:/var/lib/wfm-publisher:/sbin/nologin" > "$root/etc/passwd"
echo "nonroot:x:65532:" > "$root/etc/group"
chmod 1777 "$root/tmp"
chown -R 65532:65532 "$root/var/lib/wfm-publisher"
cp "$here/Containerfile.local" "$ctx/Containerfile"
podman build --quiet --format docker -t "$tag" "$ctx"
echo "built $tag"
