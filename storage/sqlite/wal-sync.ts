import * as fs from 'fs';
import * as path from 'path';

/**
 * Durability off the event loop. The connection commits with synchronous=NORMAL (no fsync in
 * COMMIT, which would block every request for the length of a disk flush); then this syncs the
 * WAL file — where every committed frame is — in libuv's thread pool, and the group committer
 * answers a batch only once its sync completed. An acknowledged append is on disk before its
 * answer, exactly as with synchronous=FULL; meanwhile the service keeps parsing requests,
 * which join the next batch. (Checkpoints, which sync WAL and database, run in a worker thread
 * but for one by the writer now and then: checkpointer.ts.)
 */
export class WalSync {
  private fd: number | undefined;
  private last: Promise<void> = Promise.resolve();
  /** fdatasync calls made (the bench and a test count them). */
  syncs = 0;

  constructor(private readonly dbFile: string) {}

  /** Syncs everything committed so far; resolves when it is on disk. */
  sync(): Promise<void> {
    const p = this.run();
    this.last = p.catch(() => undefined);
    return p;
  }

  /**
   * Resolves once every commit made before this call is on disk: a sync starts right after
   * each batch commits, so waiting for the latest one is enough.
   */
  whenDurable(): Promise<void> {
    return this.last;
  }

  private async run(): Promise<void> {
    if (this.fd === undefined) {
      this.fd = fs.openSync(`${this.dbFile}-wal`, 'r');
      // the WAL's directory entry must be durable too (once: the file lives as long as we do)
      const dir = fs.openSync(path.dirname(path.resolve(this.dbFile)), 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    }
    const fd = this.fd;
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
    this.syncs++;
  }

  async close(): Promise<void> {
    await this.last;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
