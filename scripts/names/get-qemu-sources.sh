#!/usr/bin/env bash
# Fetches the two QEMU source trees scripts/gen-names.js reads, from Debian's archive:
#   <dir>/qemu-7.2+dfsg  Debian bookworm's qemu 1:7.2+dfsg-7+deb12u18 (the installed 7.2), with
#                        Debian's patches applied (apt-get source);
#   <dir>/qemu-10.0.2    the upstream 10.0.2 tarball of bookworm-backports' 1:10.0.2+ds-2+deb13u1~bpo12+1
#                        (apt-get source --tar-only: apt checks it against the archive's Sources
#                        index; the archive this was made with served no .dsc for that version).
# Adds deb-src entries for bookworm, bookworm-updates, bookworm-backports and bookworm-security
# (same URIs as the machine's binary entries) when there are none. Needs root or sudo for that.
# Usage: scripts/names/get-qemu-sources.sh [dir]   (default: $CPREG_QEMU_SRC or /tmp/qemu-src)
# See docs/names.md.
set -euo pipefail
dir=${1:-${CPREG_QEMU_SRC:-/tmp/qemu-src}}
v72='1:7.2+dfsg-7+deb12u18'
v10='1:10.0.2+ds-2+deb13u1~bpo12+1'
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf '%s\n' \
    'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
    'Suites: bookworm bookworm-updates bookworm-backports' 'Components: main' \
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
    'Types: deb-src' 'URIs: http://deb.debian.org/debian-security' \
    'Suites: bookworm-security' 'Components: main' \
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
    $SUDO tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
fi
$SUDO apt-get update >/dev/null

mkdir -p "$dir"
cd "$dir"
if [ ! -f qemu-7.2+dfsg/VERSION ]; then
  apt-get source "qemu=$v72" >/dev/null
fi
if [ ! -f qemu-10.0.2/VERSION ]; then
  apt-get source --tar-only "qemu=$v10" >/dev/null
  tar xf qemu_10.0.2+ds.orig.tar.xz
fi
echo "QEMU $(cat qemu-7.2+dfsg/VERSION) in $dir/qemu-7.2+dfsg, QEMU $(cat qemu-10.0.2/VERSION) in $dir/qemu-10.0.2"
