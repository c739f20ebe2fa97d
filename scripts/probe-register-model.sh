#!/usr/bin/env bash
# Measures the register model of QEMU 7.2 and 10.0 (TCG, -M virt, every CPU model that boots) and
# writes domain/register-model/qemu-7.2.generated.ts and qemu-10.0.generated.ts.
# Usage: scripts/probe-register-model.sh [--only "7.2:qemu-system-aarch64:max;10.0:qemu-system-arm:cortex-a15@virt,secure=on;..."] [--exhaustive] [--update FILE]
#                                         [--no-variants] [--json FILE] [--from-json FILE] [--out DIR]
# Environment: QEMU72_PREFIX (folder of the 7.2 binaries; default: PATH), CPREG_QEMU10_DIR (default
# /opt/qemu-10.0), PROBE_JOBS (QEMUs at once, default 2), QEMU_TIMEOUT (seconds per QEMU run, 30).
# See docs/register-model.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
# ts-node is not installed: compile the script and the stream reader it uses.
(cd "$ROOT" && npx tsc --outDir "$BUILD" --rootDir . --module commonjs --target ES2022 --strict \
  --skipLibCheck --types node scripts/probe-register-model.ts)
cd "$ROOT"
node "$BUILD/scripts/probe-register-model.js" "$@"
