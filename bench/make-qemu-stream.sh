#!/usr/bin/env bash
# A multi-GB migration stream made by real QEMU (for bench/qemu-stream-inspect.ts; never committed):
# qemu-system-aarch64 -M virt -cpu max -smp 2, paused before its first instruction (-S), its guest
# RAM filled by -device loader with MIB MiB of random bytes (so every page is a PAGE record, not a
# ZERO one), migrated with `migrate "exec:cat > OUT"` at unlimited bandwidth.
# Usage: bench/make-qemu-stream.sh OUT.mig [MIB, default 2000]   (QEMU 7.2 on PATH; QEMU_TIMEOUT s)
set -euo pipefail
OUT=$1
MIB=${2:-2000}
TIMEOUT=${QEMU_TIMEOUT:-300}
QEMU=${QEMU:-qemu-system-aarch64}
command -v "$QEMU" >/dev/null || { echo "make-qemu-stream: $QEMU is not installed" >&2; exit 3; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cpreg-qemu-stream-XXXXXX")
trap 'exec 3>&- 2>/dev/null; [ -n "${QPID:-}" ] && kill "$QPID" 2>/dev/null; rm -rf "$WORK"' EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$WORK/ram.bin"
RAM_MIB=$(((MIB + 64 + 255) / 256 * 256)) # room for the device tree below the data
mkfifo "$WORK/monitor"
# the data at 2 MiB into RAM (0x40000000 on virt), above the device tree QEMU puts at its start
timeout "$TIMEOUT" "$QEMU" -M virt -cpu max -smp 2 -m "$RAM_MIB" -display none -S -nodefaults \
  -monitor stdio -device loader,file="$WORK/ram.bin",addr=0x40200000 <"$WORK/monitor" >"$WORK/qemu.log" 2>&1 &
QPID=$!
exec 3>"$WORK/monitor"
echo 'migrate_set_parameter max-bandwidth 100G' >&3
echo "migrate \"exec:cat > $OUT\"" >&3
for _ in $(seq 1 "$TIMEOUT"); do
  sleep 1
  echo 'info migrate' >&3
  if grep -q 'Migration status: completed' "$WORK/qemu.log"; then
    echo quit >&3
    wait "$QPID" || true
    QPID=
    ls -l "$OUT" >&2
    exit 0
  fi
  if grep -qE 'Migration status: failed|Error' "$WORK/qemu.log"; then break; fi
done
echo "make-qemu-stream: QEMU did not complete the migration:" >&2
tail -5 "$WORK/qemu.log" >&2
exit 1
