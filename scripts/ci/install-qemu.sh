#!/usr/bin/env bash
# Installs Debian's QEMU 7.2 (qemu-system-arm) and unpacks QEMU 10.0.2 from bookworm-backports
# beside it, without replacing 7.2. Prints the 10.0 folder on its last line.
# Usage: scripts/ci/install-qemu.sh [FOLDER]   (default: /opt/qemu-10.0)
set -euo pipefail
dest=${1:-/opt/qemu-10.0}
version='1:10.0.2+ds-2+deb13u1~bpo12+1'
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_update=1
if ! command -v qemu-system-aarch64 >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  $SUDO apt-get update; need_update=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y qemu-system-arm
fi
if [ ! -x "$dest/usr/bin/qemu-system-aarch64" ]; then
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    need_update=1
  fi
  [ "$need_update" -eq 0 ] || $SUDO apt-get update
  work=$(mktemp -d)
  (cd "$work" && apt-get download "qemu-system-arm=$version" "qemu-system-common=$version" "qemu-system-data=$version")
  $SUDO mkdir -p "$dest"
  for deb in "$work"/*.deb; do $SUDO dpkg -x "$deb" "$dest"; done
  rm -rf "$work"
fi
"$dest/usr/bin/qemu-system-aarch64" -L "$dest/usr/share/qemu" --version | head -1 >&2
echo "$dest"
