import { html, nothing, type PropertyValues } from 'lit';
import {
  canCheckProofs,
  followFeed,
  inclusionRoot,
  ProblemError,
  unwrap,
  type AuditKeys,
  type AuditVerdict,
  type Checkpoint,
  type CpregEvent,
  type InclusionProofAnswer,
} from '../../../client';
import { api, errorText } from '../api';
import { timeText } from '../model';
import { href } from '../router';
import { View } from './base';

const PAGE = 50;

interface ProofView {
  position: number;
  proof?: InclusionProofAnswer;
  /** The root recomputed here from the leaf hash and the siblings (undefined: not checkable). */
  computed?: string;
  /** The signed checkpoint of the same tree size, when there is one. */
  checkpoint?: Checkpoint;
  error?: string;
}

/**
 * The audit: the service's walk of its hash chain and the checkpoint it verified against
 * (GET /v1/audit/verify), the latest signed checkpoint and the signing keys, a checkpoint on
 * demand, the global feed with each event's chain hash (paged, followed live over SSE), and an
 * RFC 9162 inclusion proof for any event, checked in the browser against the signed root.
 * URLs: #/audit, #/audit?before=P (older events), #/audit?prove=P.
 */
export class CpregAudit extends View {
  static override properties = {
    query: { attribute: false },
    generation: { type: Number },
    verdict: { state: true },
    latest: { state: true },
    keys: { state: true },
    events: { state: true },
    error: { state: true },
    checkpointMessage: { state: true },
    proofView: { state: true },
    live: { state: true },
  };
  declare query: URLSearchParams;
  declare generation: number;
  declare verdict: AuditVerdict | undefined;
  /** The newest checkpoint; null: none yet. */
  declare latest: Checkpoint | null | undefined;
  declare keys: AuditKeys['keys'] | undefined;
  declare events: CpregEvent[] | undefined;
  declare error: string | undefined;
  declare checkpointMessage: { ok: boolean; text: string } | undefined;
  declare proofView: ProofView | undefined;
  declare live: boolean;
  private loadedKey = '';
  private proofKey = '';
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

  /** The first position not shown (?before=P pages back). */
  private get endBefore(): number | undefined {
    const b = Number(this.query.get('before'));
    return Number.isInteger(b) && b > 0 ? b : undefined;
  }

  private get provePosition(): number | undefined {
    const p = Number(this.query.get('prove'));
    return Number.isInteger(p) && p > 0 ? p : undefined;
  }

  protected override willUpdate(_c: PropertyValues<this>): void {
    const key = `${this.generation}|${this.endBefore ?? ''}`;
    if (key !== this.loadedKey) {
      this.loadedKey = key;
      void this.load();
    }
    const prove = this.provePosition;
    const pk = `${this.generation}|${prove ?? ''}|${this.latest?.treeSize ?? ''}|${this.verdict?.events ?? ''}`;
    if (this.verdict && this.latest !== undefined && pk !== this.proofKey) {
      this.proofKey = pk;
      if (prove === undefined) this.proofView = undefined;
      else void this.prove(prove);
    }
  }

  private async load() {
    this.error = undefined;
    try {
      const [verdict, latest, keys] = await Promise.all([
        api.GET('/v1/audit/verify').then(unwrap),
        api
          .GET('/v1/audit/checkpoints/latest')
          .then(unwrap)
          .catch((e: unknown) => {
            if (e instanceof ProblemError && e.status === 404) return null;
            throw e;
          }),
        api.GET('/v1/audit/keys').then(unwrap),
      ]);
      this.verdict = verdict;
      this.latest = latest;
      this.keys = keys.keys;
      const end = this.endBefore ?? verdict.events + 1;
      const after = Math.max(0, end - 1 - PAGE);
      const page = unwrap(await api.GET('/v1/events', { params: { query: { after, limit: PAGE } } }));
      this.events = page.events.filter((e) => e.position < end).reverse();
    } catch (e) {
      this.error = errorText(e);
    }
  }

  /** The proof of event P in the tree of the latest checkpoint (when it holds P), else of the whole log. */
  private async prove(position: number) {
    const signed = this.latest && this.latest.treeSize >= position ? this.latest : undefined;
    const treeSize = signed?.treeSize ?? this.verdict!.events;
    this.proofView = { position };
    try {
      const proof = unwrap(await api.GET('/v1/audit/proofs/inclusion', { params: { query: { position, treeSize } } }));
      const computed = canCheckProofs() ? await inclusionRoot(proof) : undefined;
      this.proofView = {
        position,
        proof,
        ...(computed ? { computed } : {}),
        ...(signed ? { checkpoint: signed } : {}),
      };
    } catch (e) {
      this.proofView = { position, error: errorText(e) };
    }
  }

  private async checkpointNow() {
    this.checkpointMessage = { ok: true, text: 'signing…' };
    try {
      const c = unwrap(await api.POST('/v1/audit/checkpoints'));
      this.checkpointMessage = { ok: true, text: `signed a checkpoint of ${c.treeSize} events` };
      this.loadedKey = '';
      this.requestUpdate();
    } catch (e) {
      this.checkpointMessage = { ok: false, text: errorText(e) };
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
    return html`${this.renderChain()} ${this.renderCheckpoints()} ${this.renderProof()} ${this.renderFeed()}`;
  }

  private renderChain() {
    const v = this.verdict;
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
              <p>Head hash <code class="head-hash">${v.headHash}</code></p>
              ${
                v.checkpoint
                  ? html`<p
                      class="checkpoint-status ${v.checkpoint.ok ? 'ok' : 'broken'}"
                      data-ok=${String(v.checkpoint.ok)}
                    >
                      ${v.checkpoint.ok ? '✓' : '✗'} Verified against the signed checkpoint of ${v.checkpoint.treeSize}
                      events (${timeText(v.checkpoint.time)}, key ${v.checkpoint.keyId}):
                      ${v.checkpoint.ok ? 'the log still matches it.' : (v.checkpoint.detail ?? 'the log no longer matches it.')}
                    </p>`
                  : html`<p class="hint checkpoint-status" data-ok="none">
                      No signed checkpoint to verify against yet.
                    </p>`
              }`
          : html`<p class="loading">verifying…</p>`
      }
    </section>`;
  }

  private renderCheckpoints() {
    const c = this.latest;
    return html`<section class="card audit-checkpoints">
      <h2>Signed checkpoints</h2>
      ${
        c === null
          ? html`<p class="empty latest-none">No checkpoint yet.</p>`
          : c
            ? html`<table class="checkpoint">
                <tbody>
                  <tr>
                    <th>tree size</th>
                    <td class="num latest-size">${c.treeSize}</td>
                  </tr>
                  <tr>
                    <th>time</th>
                    <td>${timeText(c.time)}</td>
                  </tr>
                  <tr>
                    <th>Merkle root (RFC 9162)</th>
                    <td class="mono latest-root">${c.rootHash}</td>
                  </tr>
                  <tr>
                    <th>chain head</th>
                    <td class="mono">${c.chainHead}</td>
                  </tr>
                  <tr>
                    <th>key</th>
                    <td class="mono">${c.keyId}</td>
                  </tr>
                  <tr>
                    <th>Ed25519 signature</th>
                    <td class="mono value">${c.signature}</td>
                  </tr>
                </tbody>
              </table>`
            : nothing
      }
      <div class="toolbar">
        <button class="checkpoint-now" @click=${() => void this.checkpointNow()}>Sign a checkpoint now</button>
        ${
          this.checkpointMessage
            ? html`<span class="checkpoint-message ${this.checkpointMessage.ok ? 'ok' : 'error'}"
                >${this.checkpointMessage.text}</span
              >`
            : nothing
        }
      </div>
      ${
        this.keys?.length
          ? html`<h3>Signing keys</h3>
              <ul class="keys">
                ${this.keys.map(
                  (k) =>
                    html`<li data-key=${k.keyId}>
                      <code>${k.keyId}</code>
                      ${k.algorithm}${k.current ? html` <span class="chip ok">current</span>` : nothing}
                      <details>
                        <summary>public key</summary>
                        <pre>${k.publicKey}</pre>
                      </details>
                    </li>`,
                )}
              </ul>`
          : this.keys
            ? html`<p class="hint">
                The service has no signing key (CPREG_SIGNING_KEY_FILE), so it signs no checkpoint.
              </p>`
            : nothing
      }
    </section>`;
  }

  private renderProof() {
    const p = this.proofView;
    if (!p) return nothing;
    const close = href(['audit'], { before: this.endBefore });
    if (p.error)
      return html`<section class="card audit-proof">
        <p class="error">${p.error}</p>
        <a href=${close}>close</a>
      </section>`;
    const proof = p.proof;
    if (!proof) return html`<section class="card audit-proof"><p class="loading">proving ${p.position}…</p></section>`;
    const matchesServer = p.computed !== undefined && p.computed === proof.rootHash;
    const matchesSigned = p.checkpoint !== undefined && p.checkpoint.rootHash === proof.rootHash;
    return html`<section class="card audit-proof" data-position=${p.position}>
      <h2>Inclusion proof of event ${p.position} <a class="close" href=${close} title="close">×</a></h2>
      <p>
        In the tree of ${proof.treeSize}
        events${p.checkpoint ? ' — the latest signed checkpoint' : ' — the whole log (no signed checkpoint covers it yet)'}:
        leaf ${proof.leafIndex}, ${proof.proof.length} sibling hash${proof.proof.length === 1 ? '' : 'es'}.
      </p>
      <table class="proof">
        <tbody>
          <tr>
            <th>leaf hash</th>
            <td class="mono">${proof.leafHash}</td>
          </tr>
          ${proof.proof.map(
            (h, i) =>
              html`<tr>
                <th>sibling ${i + 1}</th>
                <td class="mono">${h}</td>
              </tr>`,
          )}
          <tr>
            <th>root (service)</th>
            <td class="mono">${proof.rootHash}</td>
          </tr>
          <tr>
            <th>root (recomputed here)</th>
            <td class="mono computed-root">
              ${p.computed ?? 'not checkable: this page is not in a secure context (WebCrypto)'}
            </td>
          </tr>
        </tbody>
      </table>
      <p
        class="proof-result ${matchesServer && (matchesSigned || !p.checkpoint) ? 'ok' : 'broken'}"
        data-ok=${String(matchesServer)}
        data-signed=${String(matchesSigned)}
      >
        ${matchesServer ? '✓ The siblings lead from the leaf to the root.' : '✗ The siblings do not lead to the root.'}
        ${
          p.checkpoint
            ? matchesSigned
              ? html` ✓ That root is the one signed in the checkpoint of ${p.checkpoint.treeSize} events (key
                ${p.checkpoint.keyId}).`
              : html` ✗ That root is not the signed one.`
            : nothing
        }
      </p>
    </section>`;
  }

  private renderFeed() {
    const oldest = this.events?.at(-1)?.position;
    return html`<section class="card audit-feed">
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
                    <th>time (UTC)</th>
                    <th>stream</th>
                    <th>version</th>
                    <th>type</th>
                    <th>actor</th>
                    <th>correlation id</th>
                    <th>hash</th>
                    <th>proof</th>
                  </tr>
                </thead>
                <tbody>
                  ${this.events.map(
                    (e) =>
                      html`<tr data-position=${e.position}>
                        <td class="num">${e.position}</td>
                        <td title=${e.metadata.recordedAt ?? ''}>
                          ${(e.metadata.recordedAt ?? '—').replace('T', ' ').replace('Z', '')}
                        </td>
                        <td>${streamLink(e.streamId)}</td>
                        <td class="num">${e.version}</td>
                        <td>${e.type}</td>
                        <td>${e.metadata.actor ?? '—'}</td>
                        <td class="mono" title=${e.metadata.correlationId ?? ''}>
                          ${e.metadata.correlationId ? `${e.metadata.correlationId.slice(0, 8)}…` : '—'}
                        </td>
                        <td class="mono hash" title=${e.hash}>${e.hash.slice(0, 12)}…</td>
                        <td>
                          <a class="prove" href=${href(['audit'], { before: this.endBefore, prove: e.position })}
                            >prove</a
                          >
                        </td>
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

/** A vCPU's stream is its id; a host profile's is `host-profile/<id>`; `$audit` holds the checkpoints. */
function streamLink(streamId: string) {
  const profile = /^host-profile\/(.+)$/.exec(streamId);
  if (profile) return html`<a href=${href(['profiles', profile[1]!])}>${streamId}</a>`;
  if (streamId.startsWith('$')) return html`<span class="mono">${streamId}</span>`;
  return html`<a href=${href(['cpus', streamId, 'history'])}>${streamId}</a>`;
}

customElements.define('cpreg-audit', CpregAudit);
