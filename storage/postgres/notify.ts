import * as pg from 'pg';
import { COMMIT_CHANNEL } from './append';

/**
 * LISTEN cpreg_commit on a connection of its own: every append transaction, on any node,
 * notifies with "<node> <head position>" (delivered by the server at its COMMIT), and each
 * listener of this store is called. The connection is made again when lost (with a growing
 * pause, at most 2 s), and listeners are called once after it is back: notifications sent
 * while it was away are gone, and a woken feed reads from its own position anyway.
 */
export class CommitNotifications {
  private client: pg.Client | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private delay = 50;
  /** Notifications received from other nodes, and (re)connections made (tests read them). */
  received = 0;
  connects = 0;
  private failures = 0;

  constructor(
    private readonly url: string,
    private readonly nodeId: string,
    private readonly wake: () => void,
    private readonly onError: (e: Error) => void = () => undefined,
  ) {}

  /** Connects; resolves once LISTEN is in place (or after the first failure, retrying then). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      keepAlive: true,
      application_name: 'cpreg-ledger listen',
    });
    let failed = false;
    const lost = (e?: Error) => {
      if (failed) return;
      failed = true;
      this.failures++;
      if (e) this.onError(e);
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      this.retry();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel !== COMMIT_CHANNEL) return;
      if (n.payload?.startsWith(`${this.nodeId} `)) return; // our own commits wake us directly
      this.received++;
      this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${COMMIT_CHANNEL}`);
    } catch (e) {
      lost(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delay = 50;
    this.connects++;
    // whatever committed while we were not listening: let every feed look
    if (this.failures > 0) this.wake();
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, this.delay);
    this.delay = Math.min(2000, this.delay * 2);
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
