#!/usr/bin/env bash
# Records the TCG cpreg lists of real QEMU 7.2 and 10.0 (every -cpu model of qemu-system-aarch64
# and qemu-system-arm under -M virt, plain, secure=on, virtualization=on and both; a few boards with
# older CPUs) into test/fixtures/names/tcg-lists.json, for the name measurement in
# test/domain/names.test.ts. Ids only: the streams are read with our own reader and deleted.
# Usage: scripts/measure-names.sh [out.json]
# Environment: QEMU72_PREFIX (directory of the 7.2 binaries; default: PATH), QEMU10_DIR (default
# /opt/qemu-10.0: Debian's qemu-system-arm, -common and -data 10.0 unpacked with dpkg -x).
# At most 2 QEMUs run at once. See docs/names.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/fixtures/names/tcg-lists.json}
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
# ts-node is not installed: compile the script and the stream reader it uses.
(cd "$ROOT" && npx tsc --outDir "$BUILD" --rootDir . --module commonjs --target ES2022 --strict \
  --skipLibCheck --types node scripts/measure-names.ts)
node "$BUILD/scripts/measure-names.js" "$OUT"
