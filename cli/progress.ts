/**
 * The progress bar of the stream commands, drawn by cli-progress on stderr:
 *
 *     inspect [##############----------------]  47% 1003/2147 MB 412 MB/s
 *
 * Shown when stderr is a terminal and the input is at least 64 MiB (`auto`), always (`--progress`,
 * then also on a pipe: each redraw starts with a carriage return), or never (`--quiet`).
 * cli-progress is loaded only when a bar is drawn, so a small `cpreg inspect` starts without it.
 */
import type { GenericBar, Options } from 'cli-progress';

export type ProgressMode = 'auto' | 'on' | 'off';

export const PROGRESS_MIN = 64 * 1024 * 1024;

export interface Progress {
  update(done: number): void;
  done(): void;
}

const NONE: Progress = { update: () => undefined, done: () => undefined };

/**
 * cli-progress's terminal interface for a stream that is not a terminal: the line is redrawn
 * after a carriage return, and none of the cursor escapes are written.
 */
function carriageReturnTerminal(stream: NodeJS.WriteStream) {
  const noop = () => undefined;
  return {
    isTTY: () => true,
    getWidth: () => 200,
    cursorTo: (x: number | null) => (x === 0 ? void stream.write('\r') : undefined),
    write: (s: string) => void stream.write(s),
    newline: () => void stream.write('\n'),
    cursorSave: noop,
    cursorRestore: noop,
    cursor: noop,
    cursorRelative: noop,
    cursorRelativeReset: noop,
    clearRight: noop,
    clearLine: noop,
    clearBottom: noop,
    lineWrapping: noop,
  };
}

/** A bar for `total` bytes labelled `label`, or one that draws nothing. */
export async function startProgress(total: number, label: string, mode: ProgressMode): Promise<Progress> {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  if (mode === 'off' || (mode === 'auto' && !(tty && total >= PROGRESS_MIN))) return NONE;
  const { SingleBar } = await import('cli-progress');
  const mb = (n: number) => (n / 1e6).toFixed(0);
  const options: Options & { terminal?: unknown } = {
    format: `${label} [{bar}] {pct}% {doneMb}/{totalMb} MB {rate} MB/s `,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    barsize: 30,
    stream,
    fps: 10,
    hideCursor: false,
    clearOnComplete: false,
    linewrap: null,
    ...(tty ? {} : { terminal: carriageReturnTerminal(stream) }),
  };
  const bar: GenericBar = new SingleBar(options);
  const started = Date.now();
  const payload = (done: number) => ({
    pct: (total ? Math.min(100, (done / total) * 100) : 100).toFixed(0).padStart(3),
    doneMb: mb(done),
    totalMb: mb(total),
    rate: (done / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(0),
  });
  bar.start(total, 0, payload(0));
  return {
    update: (done) => bar.update(done, payload(done)),
    done: () => bar.stop(),
  };
}
