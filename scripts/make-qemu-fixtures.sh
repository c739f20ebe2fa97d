#!/usr/bin/env bash
# Makes real QEMU 7.2 migration streams (test/fixtures/qemu/<name>.mig.gz) and extracts each
# vCPU's cpreg block (<name>.cpu<N>.v22.bin) plus manifest.json with our own stream reader.
# Usage: scripts/make-qemu-fixtures.sh [outdir]   (default test/fixtures/qemu). See docs/fixtures.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/fixtures/qemu}
TIMEOUT=${QEMU_TIMEOUT:-60}   # seconds per QEMU run; the run is killed after this
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# name binary cpu smp
FIXTURES=(
  "aarch64-max-smp2 qemu-system-aarch64 max 2"
  "aarch64-cortex-a57 qemu-system-aarch64 cortex-a57 1"
  "aarch64-cortex-a53 qemu-system-aarch64 cortex-a53 1"
  "aarch64-cortex-a72 qemu-system-aarch64 cortex-a72 1"
  "arm-cortex-a15 qemu-system-arm cortex-a15 1"
  "arm-cortex-a7 qemu-system-arm cortex-a7 1"
)

# migrate_out BINARY CPU SMP FILE: starts a paused VM, migrates it to FILE, quits.
# The exec command renames FILE.part to FILE only after `cat` has written everything, so polling
# for FILE replaces fixed sleeps.
migrate_out() {
  local bin=$1 cpu=$2 smp=$3 file=$4
  local fifo=$WORK/monitor.$$ log=$WORK/qemu.log
  rm -f "$file" "$file.part" "$fifo"
  mkfifo "$fifo"
  timeout -k 5 "$TIMEOUT" "$bin" -M virt -cpu "$cpu" -smp "$smp" -m 64 -display none -S \
    -monitor stdio -nodefaults <"$fifo" >"$log" 2>&1 &
  local pid=$!
  exec 3>"$fifo"
  echo "migrate \"exec:cat > $file.part && mv $file.part $file\"" >&3
  local i
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    [[ -s $file ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo quit >&3 || true
  exec 3>&-
  wait "$pid" || true
  rm -f "$fifo"
  if [[ ! -s $file ]]; then
    echo "QEMU ($bin -cpu $cpu) did not produce $file; its output:" >&2
    cat "$log" >&2
    return 1
  fi
}

command -v qemu-system-aarch64 >/dev/null && command -v qemu-system-arm >/dev/null || {
  echo "qemu-system-aarch64 and qemu-system-arm are required (apt-get install qemu-system-arm)" >&2
  exit 1
}
QEMU_VERSION=$(qemu-system-aarch64 --version | head -1)

SPECS=()
for f in "${FIXTURES[@]}"; do
  read -r name bin cpu smp <<<"$f"
  echo "== $name: $bin -cpu $cpu -smp $smp" >&2
  migrate_out "$bin" "$cpu" "$smp" "$WORK/$name.mig"
  # -n: no name/timestamp in the header, so regenerating identical streams gives identical files.
  gzip -n -9 -c "$WORK/$name.mig" >"$OUT/$name.mig.gz"
  SPECS+=("$name:$bin:$cpu:$smp")
done

# Compile the extractor (ts-node is not installed) and run it over the compressed streams.
BUILD=$WORK/build
(cd "$ROOT" && npx tsc --outDir "$BUILD" --rootDir . --module commonjs --target ES2022 --strict \
  --skipLibCheck --types node scripts/extract-cpreg-blocks.ts)
node "$BUILD/scripts/extract-cpreg-blocks.js" "$OUT" "$QEMU_VERSION" "${SPECS[@]}"
ls -l "$OUT" >&2
