import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Db } from './open';

export interface CheckpointerOptions {
  /** The worker is asked for a checkpoint each time the WAL file has grown by this much. */
  stepBytes?: number;
  /** Past this, the writer checkpoints itself after a commit, so the WAL can restart. */
  capBytes?: number;
}

const MiB = 1024 * 1024;

/**
 * Checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses its threshold: it copies the WAL into the database and syncs both, and every request
 * waits meanwhile (40-50 ms per 1,250 pages measured, more than the inserts that wrote them).
 * The writing connection turns it off; each time the WAL file has grown by `stepBytes`, a worker
 * thread with its own connection runs a PASSIVE checkpoint (which never blocks the writer: it
 * copies what is committed, as SQLite's own protocol does, so durability is unchanged).
 *
 * A WAL restarts (is written again from its start) only when a write begins after everything
 * was copied, which steady writes never allow: they commit during every checkpoint. So past
 * `capBytes` the writer runs a PASSIVE checkpoint itself after a commit, on the event loop (what
 * the worker has not copied yet: little, and two syncs), its next transaction restarts the WAL,
 * and journal_size_limit trims the file back. A reader holding an old snapshot keeps the WAL from
 * restarting: the writer then tries again only each `stepBytes` of growth, not at every commit.
 * Should the worker fail, it is stopped and the connection's automatic checkpoint turned on again.
 */
export class Checkpointer {
  private worker: { w: Worker; exited: Promise<void> } | undefined;
  /** A worker being stopped after a failure (close waits for it). */
  private stopping: Promise<void> | undefined;
  private failed = false;
  private fd: number | undefined;
  private lastSize = 0;
  private nudgeAt: number;
  private ownAt: number;
  private readonly step: number;
  private readonly cap: number;
  /** Checkpoints asked of the worker, and those the writer ran itself past the cap (tests, bench). */
  readonly stats = { asked: 0, ownCheckpoints: 0 };

  constructor(
    private readonly db: Db,
    private readonly file: string,
    opts: CheckpointerOptions = {},
  ) {
    this.step = opts.stepBytes ?? MiB;
    this.cap = Math.max(opts.capBytes ?? 64 * MiB, 2 * this.step);
    this.nudgeAt = this.step;
    this.ownAt = this.cap;
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${this.step}`);
  }

  /** After each commit of the writer: one fstat of the WAL, now and then a message or a checkpoint. */
  afterCommit(): void {
    if (this.failed) return;
    try {
      this.check();
    } catch {
      this.fallBack(); // the commit stands: only checkpoints go back to SQLite's own
    }
  }

  private check(): void {
    const size = this.walSize();
    if (size < this.lastSize) {
      // trimmed: the WAL restarted
      this.nudgeAt = size + this.step;
      this.ownAt = this.cap;
    }
    this.lastSize = size;
    if (size >= this.ownAt) {
      const [r] = this.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number }>;
      // busy: the worker's checkpoint is running; try again at the next commit
      if (r && r.busy === 0) {
        this.stats.ownCheckpoints++;
        this.ownAt = size + this.step;
      }
    }
    if (size >= this.nudgeAt) {
      this.nudgeAt = size + this.step;
      this.ask();
    }
  }

  private walSize(): number {
    if (this.fd === undefined) {
      try {
        this.fd = fs.openSync(`${this.file}-wal`, 'r');
      } catch {
        return 0; // not there yet
      }
    }
    return fs.fstatSync(this.fd).size;
  }

  private ask(): void {
    this.stats.asked++;
    if (!this.worker) {
      const w = new Worker(WORKER, {
        eval: true,
        workerData: { file: this.file, driver: require.resolve('better-sqlite3') },
      });
      w.unref(); // a store left open does not keep the process alive
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.on('error', () => this.fallBack());
      void exited.then(() => {
        if (this.worker?.w === w) this.fallBack();
      });
      this.worker = { w, exited };
    }
    this.worker.w.postMessage('checkpoint');
  }

  private fallBack(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) this.stopping = stop(worker); // its connection must not outlive the writer's
    if (this.failed) return;
    this.failed = true;
    try {
      this.db.pragma('wal_autocheckpoint = 1000'); // SQLite's default
    } catch {
      // the connection is closing
    }
  }

  /** Stops the worker (its connection closed first); the writer closes after it. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failed = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    if (worker) await stop(worker);
    await this.stopping;
  }
}

/** Asks the worker to close its connection and exit (terminated if it has not within 5 s). */
async function stop({ w, exited }: { w: Worker; exited: Promise<void> }): Promise<void> {
  w.postMessage('close'); // a worker that has exited drops it
  const timer = setTimeout(() => void w.terminate(), 5000);
  await exited;
  clearTimeout(timer);
}

// Plain JavaScript, evaluated in the worker (no build step, as ts-jest and the build both run it).
// A checkpoint that finds another running (the writer's, at the cap) answers busy=1 (the next ask
// runs it); a busy error (another process recovering the WAL, say) is left for the next ask too.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
db.pragma('synchronous = NORMAL'); // a checkpoint syncs the WAL before and the database after
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch (e) {
      if (!String(e.code).startsWith('SQLITE_BUSY')) throw e;
    }
  }
  else if (m === 'close') {
    db.close();
    parentPort.close();
  }
});
`;
