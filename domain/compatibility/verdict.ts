import { readValueAt, slotsFor, type CpregArrays } from '../cpreg-arrays';
import { formatRegId, sizeField, type RegId } from '../regid';
import type { RegisterModel, RegisterWriter } from '../register-model/types';
import { isReadOnlyIdRegister } from '../vmstate/read-only-ids';
import type {
  CompatibilityFinding,
  CompatibilityRule,
  Destination,
  FindingBasis,
  LoadVerdict,
  RegisterFinding,
} from './types';

const M64 = (1n << 64n) - 1n;
const LOW32 = 0xffffffffn;
/** Typed arrays use the host's byte order: the low half of a 64-bit slot comes first on little-endian. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;

const BASES: readonly FindingBasis[] = ['measured', 'rule', 'kvm-writable-mask'];

function words(a: BigUint64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
}

interface Edge {
  target: number;
  shift: number | null;
  /** The bits the writer sets, as 32-bit halves. */
  coverLo: number;
  coverHi: number;
}

/** A destination compiled for many verdicts: masks as 32-bit halves, edges by writer. */
export interface PreparedDestination {
  readonly prepared: true;
  readonly destination: Destination;
  readonly n: number;
  readonly ids: BigUint64Array;
  readonly idWords: Uint32Array;
  readonly arrays: CpregArrays;
  readonly valueWords: Uint32Array;
  /** 1: the register is checked on load (its keep mask is below), 0: anything goes. */
  readonly checked: Uint8Array;
  readonly keepLo: Uint32Array;
  readonly keepHi: Uint32Array;
  readonly keep: readonly bigint[];
  readonly basis: Uint8Array;
  /** Edges of each writer index (TCG, measured). */
  readonly edges: ReadonlyMap<number, readonly Edge[]>;
  /** 1: some measured writer changes this register. */
  readonly target: Uint8Array;
  /** 1: this register's write changes others (it has edges). */
  readonly writer: Uint8Array;
  /** Targets of writers: the registers whose value may not survive. */
  readonly watch: Int32Array;
  /** TCG: a register the stream lacks is written from a slot never filled (measured: 0); KVM and HVF fill their slots at vCPU init (reference/qemu-cpreg.md). */
  readonly missingWritesZero: boolean;
}

const prepared = new WeakMap<Destination, PreparedDestination>();

/** What a destination's list and model decide, whatever its values: shared by its value sets. */
type Structure = Omit<PreparedDestination, 'prepared' | 'destination' | 'arrays' | 'valueWords'>;

/** Structures per list (lists are never mutated), then per model (or none) and accelerator. */
const structures = new WeakMap<BigUint64Array, Map<RegisterModel | undefined, Map<string, Structure>>>();

/**
 * Compiles a destination once (verdicts against it reuse the result; also cached per object). The
 * part its list, model and accelerator decide is compiled once per list: a vCPU's every write
 * predicts on a new value set of the same list.
 */
export function prepareDestination(d: Destination): PreparedDestination {
  const hit = prepared.get(d);
  if (hit) return hit;
  const p = prepareOnce(d);
  prepared.set(d, p);
  return p;
}

/** prepareDestination without remembering it: for a destination made for one verdict (a write's). */
export function prepareOnce(d: Destination): PreparedDestination {
  const masks = d.accelerator === 'kvm' ? d.writableMasks : undefined;
  const model = d.accelerator === 'kvm' ? undefined : d.model;
  let byModel = structures.get(d.arrays.cpregIndexes);
  let structure = masks ? undefined : byModel?.get(model)?.get(d.accelerator);
  if (!structure) {
    structure = compileStructure(d);
    if (!masks) {
      if (!byModel) structures.set(d.arrays.cpregIndexes, (byModel = new Map()));
      let byAccel = byModel.get(model);
      if (!byAccel) byModel.set(model, (byAccel = new Map()));
      byAccel.set(d.accelerator, structure);
    }
  }
  const p: PreparedDestination = {
    ...structure,
    prepared: true,
    destination: d,
    arrays: d.arrays,
    valueWords: words(d.arrays.cpregValues),
  };
  return p;
}

function compileStructure(d: Destination): Structure {
  const a = d.arrays;
  const ids = a.cpregIndexes;
  const n = ids.length;
  const checked = new Uint8Array(n);
  const keepLo = new Uint32Array(n);
  const keepHi = new Uint32Array(n);
  const keep: bigint[] = new Array<bigint>(n).fill(M64);
  const basis = new Uint8Array(n);
  const target = new Uint8Array(n);
  const edges = new Map<number, Edge[]>();
  const index = new Map<RegId, number>();
  ids.forEach((id, i) => index.set(id, i));
  const set = (i: number, k: bigint, b: FindingBasis): void => {
    checked[i] = 1;
    keep[i] = k;
    keepLo[i] = Number(k & LOW32);
    keepHi[i] = Number(k >> 32n);
    basis[i] = BASES.indexOf(b);
  };
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (slotsFor(id) > 1) continue; // wide registers: KVM only; the kernel decides
    if (d.accelerator === 'kvm') {
      const mask = d.writableMasks?.get(id);
      if (mask !== undefined) set(i, mask, 'kvm-writable-mask');
      else if (isReadOnlyIdRegister(id)) set(i, 0n, 'rule');
      continue;
    }
    const fact = d.model?.fact(id);
    if (fact) {
      if (fact.volatile) continue;
      set(i, fact.keep, 'measured');
      for (const w of fact.writers) addEdge(w, i);
      continue;
    }
    if (isReadOnlyIdRegister(id)) set(i, 0n, 'rule');
    else if (sizeField(id) === 2) set(i, LOW32, 'rule');
  }
  function addEdge(w: RegisterWriter, i: number): void {
    const by = index.get(w.by);
    if (by === undefined) return;
    target[i] = 1;
    let list = edges.get(by);
    if (!list) edges.set(by, (list = []));
    list.push({
      target: i,
      shift: w.shift,
      coverLo: Number(w.cover & LOW32),
      coverHi: Number((w.cover >> 32n) & LOW32),
    });
  }
  const writer = new Uint8Array(n);
  for (const k of edges.keys()) writer[k] = 1;
  const watch: number[] = [];
  for (let i = 0; i < n; i++) if (target[i]) watch.push(i);
  return {
    n,
    ids,
    idWords: words(ids),
    checked,
    keepLo,
    keepHi,
    keep,
    basis,
    edges,
    target,
    writer,
    watch: Int32Array.from(watch),
    missingWritesZero: d.accelerator === 'tcg',
  };
}

/** (hi, lo) shifted right by s bits (left by -s), within 64 bits, into `moved`. */
const moved = { hi: 0, lo: 0 };
function shifted(hi: number, lo: number, s: number): void {
  const t = s < 0 ? -s : s;
  if (t === 0) {
    moved.hi = hi;
    moved.lo = lo;
  } else if (t >= 64) {
    moved.hi = 0;
    moved.lo = 0;
  } else if (s > 0) {
    moved.lo = t >= 32 ? hi >>> (t - 32) : ((lo >>> t) | (hi << (32 - t))) >>> 0;
    moved.hi = t >= 32 ? 0 : hi >>> t;
  } else {
    moved.hi = t >= 32 ? (lo << (t - 32)) >>> 0 : ((hi << t) | (lo >>> (32 - t))) >>> 0;
    moved.lo = t >= 32 ? 0 : (lo << t) >>> 0;
  }
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}
/** The verb for n subjects: "carries" / "carry". */
function verb(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

function message(rule: CompatibilityRule, k: number, refusal: boolean): string {
  switch (rule) {
    case 'unknown-register':
      return `the stream carries ${plural(k, 'register')} the destination's list lacks: QEMU refuses it`;
    case 'constant-differs':
      return `${plural(k, 'constant register')} ${verb(k, 'differs', 'differ')} from the destination's value: QEMU refuses the stream`;
    case 'bits-not-kept':
      return `${plural(k, 'register')} ${verb(k, 'carries', 'carry')} bits the destination does not keep: QEMU refuses the stream`;
    case 'missing-register':
      return refusal
        ? `${plural(k, 'destination register')} missing from the stream would be written as 0, which ${verb(k, 'it does', 'they do')} not keep: QEMU refuses the stream`
        : `${plural(k, 'destination register')} missing from the stream will read 0 after the load`;
    case 'overwritten-on-load':
      return `${plural(k, 'value')} will be replaced on load by a register QEMU writes after ${verb(k, 'it', 'them')}`;
    case 'ignored-register':
      return `${plural(k, 'register')} above the destination's highest id ${verb(k, 'is', 'are')} ignored by QEMU: ${verb(k, 'its value is', 'their values are')} lost`;
    case 'more-registers':
      return 'the stream carries more registers than the destination';
  }
}

/** Options of a verdict. */
export interface VerdictOptions {
  /**
   * At most this many registers per finding (its `count` still says how many there are): a matrix
   * of many pairs need not build a thousand findings for a pair of unrelated CPU models.
   */
  maxRegistersPerFinding?: number;
  /**
   * Only the destination registers marked 1 (by list position) are named and counted, and a
   * finding left with none is left out, so the verdict is about them alone (the merge's unknown and
   * ignored registers, which the destination lacks, are not restricted). A write's warnings ask
   * about the registers it wrote.
   */
  only?: Uint8Array;
}

/**
 * Predicts QEMU's cpu_post_load verdict for loading `incoming` (a vCPU's cpreg list and values, as
 * its cpu section carries them) into `destination`. Pure: no I/O.
 *
 * In QEMU's order: the count (`more-registers`); the merge of the two sorted lists
 * (`unknown-register`; ids above the destination's highest are ignored: `ignored-register`); then
 * every destination register is written in ascending id order and must read back
 * (`constant-differs`, `bits-not-kept`, `missing-register`), and writes of later registers replace
 * the state of earlier ones (`overwritten-on-load`). QEMU stops at its first refusal; every reason
 * is listed here.
 */
export function predictLoad(
  incoming: CpregArrays,
  destination: Destination | PreparedDestination,
  opts: VerdictOptions = {},
): LoadVerdict {
  const d = 'prepared' in destination ? destination : prepareDestination(destination);
  const max = opts.maxRegistersPerFinding ?? Infinity;
  const only = opts.only;
  const inIds = incoming.cpregIndexes;
  const inN = inIds.length;
  const inIdWords = words(inIds);
  const iw = words(incoming.cpregValues);
  const inVi = incoming.cpregValueIndexes;
  const reasons: CompatibilityFinding[] = [];
  const warnings: CompatibilityFinding[] = [];
  const finding = (rule: CompatibilityRule, regs: Collected, refusal: boolean): CompatibilityFinding => ({
    rule,
    message: message(rule, regs.count, refusal),
    registers: regs.list,
    count: regs.count,
  });

  if (inN > d.n) {
    reasons.push({
      rule: 'more-registers',
      message: `the stream carries ${inN} registers, the destination ${d.n}: QEMU refuses it ("Invalid value ${inN} expecting positive value <= ${d.n}")`,
      registers: [],
      count: 0,
      incomingCount: inN,
      destinationCount: d.n,
    });
  }

  // The merge: src[i] = the incoming register of destination register i, or -1.
  if (scratch.length < d.n) scratch = new Int32Array(2 * d.n);
  const src = scratch; // (one verdict at a time: predictLoad runs to its end without yielding)
  src.fill(-1, 0, d.n);
  const unknown = collected();
  const ignored = collected();
  const dw = d.idWords;
  let i = 0;
  let v = 0;
  while (i < d.n && v < inN) {
    const ah = inIdWords[2 * v + HI]!;
    const bh = dw[2 * i + HI]!;
    const al = inIdWords[2 * v + LO]!;
    const bl = dw[2 * i + LO]!;
    if (ah > bh || (ah === bh && al > bl)) i++;
    else if (ah < bh || al < bl) {
      if (unknown.count++ < max)
        unknown.list.push({ id: inIds[v]!, incoming: readValueAt(incoming, v), basis: 'rule' });
      v++;
    } else {
      src[i++] = v++;
    }
  }
  for (; v < inN; v++) {
    if (ignored.count++ < max) ignored.list.push({ id: inIds[v]!, incoming: readValueAt(incoming, v), basis: 'rule' });
  }
  if (unknown.count > 0) reasons.push(finding('unknown-register', unknown, true));

  // The writes, in ascending id order, each read back at once. A register's state differs from
  // the destination's value ("dirty") once its own write or a writer's changed it.
  const constants = collected();
  const bits = collected();
  const missingRefused = collected();
  const missingWarned = collected();
  // 1: stateLo/stateHi[k] hold it, 2: changed unpredictably. Halves, not bigints: a write of
  // every register runs every writer's edges, and a bigint per step was most of this loop's cost.
  let dirty: Uint8Array | undefined;
  let stateLo: Uint32Array | undefined;
  let stateHi: Uint32Array | undefined;
  let lastWriter: Int32Array | undefined;
  let refusedAt: Uint8Array | undefined;
  const a = d.arrays;
  const vw = d.valueWords;
  const dVi = a.cpregValueIndexes;
  const n = d.n;
  const writerOf = d.writer;
  for (let k = 0; k < n; k++) {
    const s = src[k]!;
    // The common case first: the stream carries the value the destination holds, nothing changed
    // the register before, and (as a writer) it has nothing changed to overwrite: it reads back as
    // it was and changes nothing.
    if (s >= 0 && (dirty === undefined || (dirty[k] === 0 && writerOf[k] === 0))) {
      const is = 2 * inVi[s]!;
      const ds = 2 * dVi[k]!;
      if (iw[is] === vw[ds] && iw[is + 1] === vw[ds + 1]) continue;
    }
    const isWriter = writerOf[k] === 1;
    const isTarget = d.target[k] === 1;
    if (!d.checked[k] && !isWriter && !isTarget) continue;
    const missing = s < 0;
    if (missing && !d.missingWritesZero) continue; // KVM, HVF: the register keeps its value
    const inSlot = missing ? 0 : inVi[s]!;
    const wLo = missing ? 0 : iw[2 * inSlot + LO]!;
    const wHi = missing ? 0 : iw[2 * inSlot + HI]!;
    // What the register holds before its write: its value, or what an earlier write made of it.
    const dSlot = dVi[k]!;
    const dLo = vw[2 * dSlot + LO]!;
    const dHi = vw[2 * dSlot + HI]!;
    let cLo = dLo;
    let cHi = dHi;
    const dk = dirty ? dirty[k]! : 0;
    if (dk === 2) {
      cLo = wLo; // not predictable: assume it reads back
      cHi = wHi;
    } else if (dk === 1) {
      cLo = stateLo![k]!;
      cHi = stateHi![k]!;
    }
    let keptLo = wLo;
    let keptHi = wHi;
    if (d.checked[k]) {
      const kl = d.keepLo[k]!;
      const kh = d.keepHi[k]!;
      keptLo = ((wLo & kl) | (cLo & ~kl)) >>> 0;
      keptHi = ((wHi & kh) | (cHi & ~kh)) >>> 0;
      if (keptLo !== wLo || keptHi !== wHi) {
        (refusedAt ??= new Uint8Array(d.n))[k] = 1;
        const keepK = d.keep[k]!;
        const into = missing ? missingRefused : keepK === 0n ? constants : bits;
        if ((!only || only[k] === 1) && into.count++ < max) {
          into.list.push({
            id: d.ids[k]!,
            incoming: (BigInt(wHi) << 32n) | BigInt(wLo),
            destination: (BigInt(cHi) << 32n) | BigInt(cLo),
            keeps: keepK,
            becomes: (BigInt(keptHi) << 32n) | BigInt(keptLo),
            basis: BASES[d.basis[k]!]!,
          });
        }
      } else if (missing && (cLo !== 0 || cHi !== 0) && !isTarget && (!only || only[k] === 1)) {
        if (missingWarned.count++ < max) {
          missingWarned.list.push({
            id: d.ids[k]!,
            incoming: 0n,
            destination: (BigInt(cHi) << 32n) | BigInt(cLo),
            becomes: 0n,
            basis: BASES[d.basis[k]!]!,
          });
        }
      }
    }
    const changed = keptLo !== dLo || keptHi !== dHi;
    if (isTarget && (changed || dk !== 0)) {
      dirty ??= new Uint8Array(d.n);
      stateLo ??= new Uint32Array(d.n);
      stateHi ??= new Uint32Array(d.n);
      dirty[k] = 1;
      stateLo[k] = keptLo;
      stateHi[k] = keptHi;
    }
    if (isWriter) {
      for (const e of d.edges.get(k)!) {
        const t = e.target;
        const td = dirty ? dirty[t]! : 0;
        // A writer that writes the destination's own value into an untouched register changes nothing.
        if (!changed && td === 0) continue;
        dirty ??= new Uint8Array(d.n);
        stateLo ??= new Uint32Array(d.n);
        stateHi ??= new Uint32Array(d.n);
        if (e.shift === null || td === 2) dirty[t] = 2;
        else {
          const oLo = td === 1 ? stateLo[t]! : vw[2 * dVi[t]! + LO]!;
          const oHi = td === 1 ? stateHi[t]! : vw[2 * dVi[t]! + HI]!;
          shifted(keptHi, keptLo, e.shift);
          dirty[t] = 1;
          stateLo[t] = ((oLo & ~e.coverLo) | (moved.lo & e.coverLo)) >>> 0;
          stateHi[t] = ((oHi & ~e.coverHi) | (moved.hi & e.coverHi)) >>> 0;
        }
        (lastWriter ??= new Int32Array(d.n).fill(-1))[t] = k;
      }
    }
  }
  if (constants.count > 0) reasons.push(finding('constant-differs', constants, true));
  if (bits.count > 0) reasons.push(finding('bits-not-kept', bits, true));
  if (missingRefused.count > 0) reasons.push(finding('missing-register', missingRefused, true));

  // What does not survive an accepted load.
  const overwritten = collected();
  for (const k of d.watch) {
    const s = src[k]!;
    if (s < 0 || refusedAt?.[k] || (only && only[k] !== 1)) continue;
    const by = lastWriter ? lastWriter[k]! : -1;
    if (d.target[k] && by > k && dirty?.[k]) {
      const w = readValueAt(incoming, s);
      const fin = dirty[k] === 1 ? (BigInt(stateHi![k]!) << 32n) | BigInt(stateLo![k]!) : undefined;
      if (fin === w) continue;
      if (overwritten.count++ < max) {
        overwritten.list.push({
          id: d.ids[k]!,
          incoming: w,
          destination: readValueAt(a, k),
          by: d.ids[by]!,
          basis: 'measured',
          ...(fin === undefined ? {} : { becomes: fin }),
        });
      }
    }
  }
  if (overwritten.count > 0) warnings.push(finding('overwritten-on-load', overwritten, false));
  if (missingWarned.count > 0) warnings.push(finding('missing-register', missingWarned, false));
  if (ignored.count > 0) warnings.push(finding('ignored-register', ignored, false));
  return { verdict: reasons.length > 0 ? 'refused' : 'accepted', reasons, warnings };
}

/** The merge's map of destination register → incoming register, reused (a matrix makes many). */
let scratch = new Int32Array(0);

interface Collected {
  count: number;
  list: RegisterFinding[];
}
function collected(): Collected {
  return { count: 0, list: [] };
}

/** A finding as one line of text (for logs and the CLI): rule, then each register's values. */
export function describeFinding(f: CompatibilityFinding): string {
  const hex = (x: bigint | undefined): string => (x === undefined ? '?' : '0x' + x.toString(16));
  const regs = f.registers.map((r) => {
    const parts = [formatRegId(r.id)];
    if (r.incoming !== undefined) parts.push(`incoming ${hex(r.incoming)}`);
    if (r.destination !== undefined) parts.push(`destination ${hex(r.destination)}`);
    if (r.keeps !== undefined && f.rule === 'bits-not-kept') parts.push(`keeps ${hex(r.keeps)}`);
    if (r.becomes !== undefined && f.rule === 'overwritten-on-load') parts.push(`becomes ${hex(r.becomes)}`);
    if (r.by !== undefined) parts.push(`by ${formatRegId(r.by)}`);
    return parts.join(' ');
  });
  return `${f.rule}: ${f.message}${regs.length ? ' — ' + regs.join('; ') : ''}`;
}
