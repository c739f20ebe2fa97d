import { html, nothing, type PropertyValues } from 'lit';
import { followFeed, unwrap, type AuditVerdict, type CpregEvent } from '../../../client';
import { api, errorText } from '../api';
import { timeText } from '../model';
import { href } from '../router';
import { View } from './base';

const PAGE = 50;

/**
 * The audit: the service's walk of its hash chain (GET /v1/audit/verify) and the global feed
 * with each event's chain hash, newest first, paged, and followed live over SSE on demand.
 * Checkpoints and proofs are shown only once the API offers them (openapi.yaml has none yet).
 */
export class CpregAudit extends View {
  static override properties = {
    query: { attribute: false },
    generation: { type: Number },
    verdict: { state: true },
    events: { state: true },
    error: { state: true },
    live: { state: true },
  };
  declare query: URLSearchParams;
  declare generation: number;
  declare verdict: AuditVerdict | undefined;
  declare events: CpregEvent[] | undefined;
  declare error: string | undefined;
  declare live: boolean;
  private loadedKey = '';
  private follow: AbortController | undefined;

  constructor() {
    super();
    this.query = new URLSearchParams();
    this.generation = 0;
    this.live = false;
  }

  override disconnectedCallback(): void {
    this.follow?.abort();
    super.disconnectedCallback();
  }

  /** The first position shown (?before=P pages back). */
  private get endBefore(): number | undefined {
    const b = Number(this.query.get('before'));
    return Number.isInteger(b) && b > 0 ? b : undefined;
  }

  protected override willUpdate(_c: PropertyValues<this>): void {
    const key = `${this.generation}|${this.endBefore ?? ''}`;
    if (key === this.loadedKey) return;
    this.loadedKey = key;
    void this.load();
  }

  private async load() {
    this.error = undefined;
    try {
      const verdict = unwrap(await api.GET('/v1/audit/verify'));
      this.verdict = verdict;
      const end = this.endBefore ?? verdict.events + 1;
      const after = Math.max(0, end - 1 - PAGE);
      const page = unwrap(await api.GET('/v1/events', { params: { query: { after, limit: PAGE } } }));
      this.events = page.events.filter((e) => e.position < end).reverse();
    } catch (e) {
      this.error = errorText(e);
    }
  }

  private async toggleLive() {
    if (this.live) {
      this.follow?.abort();
      this.live = false;
      return;
    }
    this.live = true;
    const stop = new AbortController();
    this.follow = stop;
    const after = this.events?.[0]?.position ?? 0;
    try {
      for await (const e of followFeed(api, { after, signal: stop.signal })) {
        this.events = [e, ...(this.events ?? [])];
        if (this.verdict) this.verdict = { ...this.verdict, events: Math.max(this.verdict.events, e.position) };
      }
    } catch (e) {
      this.error = errorText(e);
    } finally {
      if (this.follow === stop) this.live = false;
    }
  }

  protected override render() {
    const v = this.verdict;
    const oldest = this.events?.at(-1)?.position;
    return html`<section class="card audit-chain">
        <h2>Hash chain</h2>
        ${this.error ? html`<p class="error">${this.error}</p>` : nothing}
        ${
          v
            ? html`<p class="chain-status ${v.ok ? 'ok' : 'broken'}" data-ok=${String(v.ok)}>
                  ${
                    v.ok
                      ? html`✓ The chain holds: <span class="chain-events">${v.events}</span> events, each hash over the
                          one before.`
                      : html`✗ The chain is broken at position
                        ${v.firstBrokenPosition ?? '?'}${v.reason ? `: ${v.reason}` : ''}.`
                  }
                </p>
                <p>
                  Head hash <code class="head-hash">${v.headHash}</code> — anchor it elsewhere to detect a rewrite
                  later.
                </p>
                <p class="hint">
                  Signed checkpoints and inclusion proofs are not part of this service's API yet (openapi.yaml); this
                  page shows the chain walk it offers.
                </p>`
            : html`<p class="loading">verifying…</p>`
        }
      </section>
      <section class="card audit-feed">
        <h2>Events</h2>
        <div class="toolbar">
          <button class="live ${this.live ? 'on' : ''}" @click=${() => void this.toggleLive()}>
            ${this.live ? 'Stop following' : 'Follow live'}
          </button>
          ${this.endBefore ? html`<a href=${href(['audit'])}>newest</a>` : nothing}
          ${
            oldest !== undefined && oldest > 1
              ? html`<a class="older" href=${href(['audit'], { before: oldest })}>older</a>`
              : nothing
          }
        </div>
        ${
          this.events
            ? html`<div class="scroll">
                <table class="feed">
                  <thead>
                    <tr>
                      <th>position</th>
                      <th>time</th>
                      <th>stream</th>
                      <th>version</th>
                      <th>type</th>
                      <th>actor</th>
                      <th>correlation id</th>
                      <th>hash</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${this.events.map(
                      (e) =>
                        html`<tr data-position=${e.position}>
                          <td class="num">${e.position}</td>
                          <td>${timeText(e.metadata.recordedAt)}</td>
                          <td>${streamLink(e.streamId)}</td>
                          <td class="num">${e.version}</td>
                          <td>${e.type}</td>
                          <td>${e.metadata.actor ?? '—'}</td>
                          <td class="mono">${e.metadata.correlationId ?? '—'}</td>
                          <td class="mono hash" title=${e.hash}>${e.hash.slice(0, 16)}…</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
            : nothing
        }
      </section>`;
  }
}
/** A vCPU's stream is its id; a host profile's is `host-profile/<id>`. */
function streamLink(streamId: string) {
  const profile = /^host-profile\/(.+)$/.exec(streamId);
  return profile
    ? html`<a href=${href(['profiles', profile[1]!])}>${streamId}</a>`
    : html`<a href=${href(['cpus', streamId, 'history'])}>${streamId}</a>`;
}

customElements.define('cpreg-audit', CpregAudit);
