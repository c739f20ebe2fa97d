#!/usr/bin/env bash
# Makes real QEMU migration streams with QEMU 7.2 and QEMU 10.0 (test/fixtures/qemu/<name>.mig.gz),
# idle (paused before the first guest instruction) and guest-ran (vCPU 0 ran a tiny program), and
# extracts each vCPU's cpreg block (<name>.cpu<N>.v22.bin) plus manifest.json with our own reader.
# Usage: scripts/make-qemu-fixtures.sh [outdir]   (default test/fixtures/qemu). See docs/fixtures.md.
#   QEMU 7.2: qemu-system-aarch64 / qemu-system-arm on PATH (Debian bookworm's).
#   QEMU 10.0: unpacked in $CPREG_QEMU10_DIR (default /opt/qemu-10.0; scripts/ci/install-qemu.sh),
#   run as $CPREG_QEMU10_DIR/usr/bin/<binary> -L $CPREG_QEMU10_DIR/usr/share/qemu.
# One QEMU runs at a time, each bounded by QEMU_TIMEOUT seconds (default 60).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/fixtures/qemu}
TIMEOUT=${QEMU_TIMEOUT:-60}
Q10=${CPREG_QEMU10_DIR:-/opt/qemu-10.0}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# name qemu binary cpu smp guest   (qemu: 7.2 or 10.0; guest: idle or ran)
FIXTURES=(
  "aarch64-max-smp2 7.2 qemu-system-aarch64 max 2 idle"
  "aarch64-cortex-a57 7.2 qemu-system-aarch64 cortex-a57 1 idle"
  "aarch64-cortex-a53 7.2 qemu-system-aarch64 cortex-a53 1 idle"
  "aarch64-cortex-a72 7.2 qemu-system-aarch64 cortex-a72 1 idle"
  "arm-cortex-a15 7.2 qemu-system-arm cortex-a15 1 idle"
  "arm-cortex-a7 7.2 qemu-system-arm cortex-a7 1 idle"
  "aarch64-max-smp2-ran 7.2 qemu-system-aarch64 max 2 ran"
  "arm-cortex-a15-smp2-ran 7.2 qemu-system-arm cortex-a15 2 ran"
  "q10-aarch64-max-smp2 10.0 qemu-system-aarch64 max 2 idle"
  "q10-aarch64-cortex-a710-smp2 10.0 qemu-system-aarch64 cortex-a710 2 idle"
  "q10-aarch64-neoverse-n2-smp2 10.0 qemu-system-aarch64 neoverse-n2 2 idle"
  "q10-aarch64-neoverse-v1-smp2 10.0 qemu-system-aarch64 neoverse-v1 2 idle"
  "q10-aarch64-neoverse-n1-smp2 10.0 qemu-system-aarch64 neoverse-n1 2 idle"
  "q10-aarch64-cortex-a76-smp2 10.0 qemu-system-aarch64 cortex-a76 2 idle"
  "q10-aarch64-cortex-a57-smp2 10.0 qemu-system-aarch64 cortex-a57 2 idle"
  "q10-arm-cortex-a15-smp2 10.0 qemu-system-arm cortex-a15 2 idle"
  "q10-arm-cortex-a7-smp2 10.0 qemu-system-arm cortex-a7 2 idle"
  "q10-aarch64-cortex-a710-smp2-ran 10.0 qemu-system-aarch64 cortex-a710 2 ran"
  "q10-arm-cortex-a15-smp2-ran 10.0 qemu-system-arm cortex-a15 2 ran"
)

# The guest programs (little-endian instruction words), placed at PROGRAM_ADDR by -device loader;
# vCPU 0 starts there (the same programs as test/interop/api-stream-roundtrip.test.ts).
# AArch64: movz x0,#0x1234; msr tpidr_el0,x0; msr tpidr_el1,x0; add x1,x1,#1; b .-4
A64_PROGRAM="d2824680 d51bd040 d518d080 91000421 17ffffff"
# AArch32: mov r0,#0x12; mcr p15,0,r0,c13,c0,2 (TPIDRURW); mcr p15,0,r0,c3,c0,0 (DACR); add r1,r1,#1; b .-4
A32_PROGRAM="e3a00012 ee0d0f50 ee030f10 e2811001 eafffffd"
PROGRAM_ADDR=0x40200000 # above the device tree, which QEMU puts at the start of RAM

# qemu_cmd VERSION BINARY: the command line prefix of that QEMU.
qemu_cmd() {
  case $1 in
    7.2) echo "$2" ;;
    10.0) echo "$Q10/usr/bin/$2 -L $Q10/usr/share/qemu" ;;
  esac
}

# write_program FILE WORDS: the words as little-endian bytes.
write_program() {
  local f=$1 w
  : >"$f"
  for w in $2; do printf "\\x${w:6:2}\\x${w:4:2}\\x${w:2:2}\\x${w:0:2}" >>"$f"; done
}

# migrate_out VERSION BINARY CPU SMP GUEST FILE: starts the VM (paused with -S when idle; running
# the program on vCPU 0 for a second when ran), migrates it to FILE, quits. The exec command
# renames FILE.part to FILE only after `cat` has written everything, so polling for FILE replaces
# fixed sleeps.
migrate_out() {
  local version=$1 bin=$2 cpu=$3 smp=$4 guest=$5 file=$6
  local fifo=$WORK/monitor.$$ log=$WORK/qemu.log extra=(-S)
  if [[ $guest == ran ]]; then
    local prog=$WORK/program.bin
    if [[ $bin == qemu-system-arm ]]; then write_program "$prog" "$A32_PROGRAM"; else write_program "$prog" "$A64_PROGRAM"; fi
    extra=(-device "loader,file=$prog,addr=$PROGRAM_ADDR,force-raw=on" -device "loader,addr=$PROGRAM_ADDR,cpu-num=0")
  fi
  rm -f "$file" "$file.part" "$fifo"
  mkfifo "$fifo"
  # shellcheck disable=SC2046
  timeout -k 5 "$TIMEOUT" $(qemu_cmd "$version" "$bin") -M virt -cpu "$cpu" -smp "$smp" -m 64 -display none \
    "${extra[@]}" -monitor stdio -nodefaults <"$fifo" >"$log" 2>&1 &
  local pid=$!
  exec 3>"$fifo"
  [[ $guest == ran ]] && sleep 1 # let the guest run
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
    echo "QEMU $version ($bin -cpu $cpu) did not produce $file; its output:" >&2
    cat "$log" >&2
    return 1
  fi
}

for b in qemu-system-aarch64 qemu-system-arm; do
  command -v $b >/dev/null || { echo "$b (QEMU 7.2) is required: apt-get install qemu-system-arm" >&2; exit 1; }
  [[ -x $Q10/usr/bin/$b ]] || { echo "QEMU 10.0 $b not found in $Q10 (scripts/ci/install-qemu.sh; CPREG_QEMU10_DIR)" >&2; exit 1; }
done
QEMU72=$(qemu-system-aarch64 --version | head -1)
QEMU10=$($(qemu_cmd 10.0 qemu-system-aarch64) --version | head -1)
[[ $QEMU72 == "QEMU emulator version 7.2."* ]] || { echo "expected QEMU 7.2 on PATH, got: $QEMU72" >&2; exit 1; }
[[ $QEMU10 == "QEMU emulator version 10.0."* ]] || { echo "expected QEMU 10.0 in $Q10, got: $QEMU10" >&2; exit 1; }

SPECS=()
for f in "${FIXTURES[@]}"; do
  read -r name version bin cpu smp guest <<<"$f"
  echo "== $name: QEMU $version $bin -cpu $cpu -smp $smp ($guest)" >&2
  migrate_out "$version" "$bin" "$cpu" "$smp" "$guest" "$WORK/$name.mig"
  # -n: no name/timestamp in the header, so regenerating identical streams gives identical files.
  gzip -n -9 -c "$WORK/$name.mig" >"$OUT/$name.mig.gz"
  SPECS+=("$name:$version:$bin:$cpu:$smp:$guest")
done

# Compile the extractor (ts-node is not installed) and run it over the compressed streams.
BUILD=$WORK/build
(cd "$ROOT" && npx tsc --outDir "$BUILD" --rootDir . --module commonjs --target ES2022 --strict \
  --skipLibCheck --types node scripts/extract-cpreg-blocks.ts)
node "$BUILD/scripts/extract-cpreg-blocks.js" "$OUT" "$QEMU72" "$QEMU10" "${SPECS[@]}"
ls -l "$OUT" >&2
