import { html, nothing, type PropertyValues } from 'lit';
import {
  exportBlob,
  unwrap,
  vcpuHistory,
  type BlobFormat,
  type CpregEvent,
  type Diff,
  type VcpuState,
} from '../../../client';
import { api, errorText } from '../api';
import { distinctValues, labelList, namesOf, plotNumber, series, timeText, timeline } from '../model';
import { href, navigate, replaceQuery } from '../router';
import { View } from './base';
import './plot';

type Tab = 'registers' | 'history' | 'diff' | 'plot';
const TABS: Array<[Tab, string]> = [
  ['registers', 'Registers'],
  ['history', 'History'],
  ['diff', 'Diff'],
  ['plot', 'Value over time'],
];

/**
 * One vCPU: its registers (searchable, at any version), its history as a timeline, the diff of
 * any two versions, one register's value over time, and the v22/v23 exports.
 * URLs: #/cpus/{id}, …/history, …/diff?from=&to=, …/plot?reg=, with ?version= and ?q= on registers.
 */
export class CpregVcpu extends View {
  static override properties = {
    vcpuId: { attribute: false },
    tab: { attribute: false },
    query: { attribute: false },
    generation: { type: Number },
    head: { state: true },
    shown: { state: true },
    events: { state: true },
    diff: { state: true },
    error: { state: true },
    diffError: { state: true },
    exportMessage: { state: true },
    search: { state: true },
  };
  declare vcpuId: string;
  declare tab: string;
  declare query: URLSearchParams;
  declare generation: number;
  /** The vCPU now. */
  declare head: VcpuState | undefined;
  /** The vCPU at ?version= (the head without it). */
  declare shown: VcpuState | undefined;
  declare events: CpregEvent[] | undefined;
  declare diff: Diff | undefined;
  declare error: string | undefined;
  declare diffError: string | undefined;
  declare exportMessage: { ok: boolean; text: string } | undefined;
  declare search: string;
  private seq = 0;
  private loadedKey = '';
  private diffKey = '';

  constructor() {
    super();
    this.vcpuId = '';
    this.tab = 'registers';
    this.query = new URLSearchParams();
    this.generation = 0;
    this.search = '';
  }

  private get version(): number | undefined {
    const v = Number(this.query.get('version'));
    return Number.isInteger(v) && v > 0 ? v : undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('query')) this.search = this.query.get('q') ?? '';
    const key = `${this.generation}|${this.vcpuId}|${this.version ?? ''}`;
    if (key !== this.loadedKey) {
      this.loadedKey = key;
      void this.load();
    }
    if (this.tab === 'diff' && this.events) {
      const { from, to } = this.diffRange();
      const k = `${key}|${this.events.length}|${from}|${to}`;
      if (k !== this.diffKey) {
        this.diffKey = k;
        void this.loadDiff(from, to);
      }
    }
  }

  private async load() {
    const seq = ++this.seq;
    const id = this.vcpuId;
    this.error = undefined;
    try {
      const version = this.version;
      const [head, events, shown] = await Promise.all([
        api.GET('/v1/cpus/{id}', { params: { path: { id } } }).then(unwrap),
        vcpuHistory(api, id),
        version === undefined
          ? Promise.resolve(undefined)
          : api.GET('/v1/cpus/{id}', { params: { path: { id }, query: { version } } }).then(unwrap),
      ]);
      if (seq !== this.seq) return;
      this.head = head;
      this.events = events;
      this.shown = shown ?? head;
    } catch (e) {
      if (seq === this.seq) this.error = errorText(e);
    }
  }

  private diffRange(): { from: number; to: number } {
    const last = this.events?.at(-1)?.version ?? 1;
    const to = Math.min(last, Math.max(1, Number(this.query.get('to')) || last));
    const from = Math.min(to, Math.max(1, Number(this.query.get('from')) || 1));
    return { from, to };
  }

  private async loadDiff(from: number, to: number) {
    this.diffError = undefined;
    try {
      const d = unwrap(
        await api.GET('/v1/cpus/{id}/diff', { params: { path: { id: this.vcpuId }, query: { from, to } } }),
      );
      this.diff = d;
    } catch (e) {
      this.diff = undefined;
      this.diffError = errorText(e);
    }
  }

  private async export(format: BlobFormat) {
    this.exportMessage = { ok: true, text: `exporting ${format}…` };
    try {
      const blob = await exportBlob(api, this.vcpuId, format);
      const file = `${this.vcpuId}.${format}`;
      const url = URL.createObjectURL(new Blob([blob.bytes as BlobPart], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = file;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      this.exportMessage = {
        ok: true,
        text: `${file}: ${blob.bytes.length} bytes, version ${blob.version}, sha256 ${blob.sha256}`,
      };
      // the export is an event of the history: show it
      this.events = await vcpuHistory(api, this.vcpuId);
    } catch (e) {
      this.exportMessage = { ok: false, text: `${format}: ${errorText(e)}` };
    }
  }

  private link(tab: Tab, query: Record<string, string | number | undefined> = {}): string {
    return href(tab === 'registers' ? ['cpus', this.vcpuId] : ['cpus', this.vcpuId, tab], query);
  }

  protected override render() {
    if (this.error)
      return html`<p class="error">${this.error}</p>
        <p><a href=${href(['fleet'])}>back to the fleet</a></p>`;
    const s = this.head;
    if (!s || !this.events) return html`<p class="loading">loading ${this.vcpuId}…</p>`;
    const tab = (TABS.some(([t]) => t === this.tab) ? this.tab : 'registers') as Tab;
    return html`<section class="card vcpu-head">
        <h2><span class="vcpu-id">${s.id}</span></h2>
        <p class="facts">
          ${s.accelerator} · version <span class="head-version">${s.version}</span> · ${s.arrayLen} registers
          (${s.valueArrayLen} value slots) · machine ${s.labels['qemu.machine'] ?? '—'}
        </p>
        <p class="labels">${labelList(s.labels).map((kv) => html`<span class="chip">${kv}</span>`)}</p>
        <div class="exports">
          <button class="export" data-format="v22" @click=${() => this.export('v22')}>Export v22</button>
          <button class="export" data-format="v23" @click=${() => this.export('v23')}>Export v23</button>
          ${
            this.exportMessage
              ? html`<span class="export-message ${this.exportMessage.ok ? 'ok' : 'error'}"
                  >${this.exportMessage.text}</span
                >`
              : nothing
          }
        </div>
        <nav class="tabs">
          ${TABS.map(([t, label]) => html`<a href=${this.link(t)} class=${t === tab ? 'active' : ''} data-tab=${t}>${label}</a>`)}
        </nav>
      </section>
      <section class="card tab-${tab}">
        ${
          tab === 'registers'
            ? this.renderRegisters()
            : tab === 'history'
              ? this.renderHistory()
              : tab === 'diff'
                ? this.renderDiff()
                : this.renderPlot()
        }
      </section>`;
  }

  private renderRegisters() {
    const s = this.shown!;
    const q = this.search.trim().toLowerCase();
    const rows = q ? s.registers.filter((r) => `${r.id} ${r.name}`.toLowerCase().includes(q)) : s.registers;
    const versions = this.events!.map((e) => e.version);
    const onSearch = (e: Event) => {
      this.search = (e.target as HTMLInputElement).value;
      replaceQuery(this.link('registers', { version: this.version, q: this.search || undefined }));
    };
    return html`<div class="toolbar">
        <input
          class="reg-search"
          type="search"
          placeholder="search by name or id (TPIDR, 0x6030…)"
          .value=${this.search}
          @input=${onSearch}
        />
        <label
          >at version
          <select
            class="version"
            @change=${(e: Event) => {
              const v = Number((e.target as HTMLSelectElement).value);
              navigate(
                this.link('registers', {
                  version: v === this.head!.version ? undefined : v,
                  q: this.search || undefined,
                }),
              );
            }}
          >
            ${versions.map((v) => html`<option value=${v} ?selected=${v === s.version}>${v}${v === this.head!.version ? ' (now)' : ''}</option>`)}
          </select>
        </label>
        <span class="match-count">${rows.length} of ${s.registers.length} registers</span>
      </div>
      <table class="registers">
        <thead>
          <tr>
            <th>id</th>
            <th>name</th>
            <th>name kind</th>
            <th>size</th>
            <th>slots</th>
            <th>value</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (r) =>
              html`<tr data-id=${r.id} data-name=${r.name}>
                <td class="mono">${r.id}</td>
                <td class="name">${r.name}</td>
                <td class="kind">
                  ${
                    r.generic
                      ? html`<span class="badge generic" title="no source names this id for this CPU">generic</span>`
                      : html`<span class="badge real">real</span>`
                  }
                </td>
                <td class="num">${r.size} B</td>
                <td class="num">${r.slots}</td>
                <td class="mono value">${r.value}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
  }

  private renderHistory() {
    const entries = timeline(this.events!, namesOf(this.head!.registers));
    return html`<ol class="timeline">
      ${entries
        .slice()
        .reverse()
        .map(
          ({ event: e, changes, note }) =>
            html`<li class="event" data-version=${e.version} data-type=${e.type}>
              <div class="event-head">
                <span class="version-badge">v${e.version}</span>
                <span class="type">${e.type}</span>
                <span class="time" title=${e.metadata.recordedAt ?? ''}>${timeText(e.metadata.recordedAt)}</span>
                <span class="actor" title="actor">${e.metadata.actor ?? '—'}</span>
                <span class="correlation" title="correlation id">${e.metadata.correlationId ?? '—'}</span>
              </div>
              <p class="note">${note}</p>
              ${
                changes.length
                  ? html`<ul class="changes">
                      ${changes.map(
                        (c) =>
                          html`<li data-name=${c.name}>
                            <a class="name" href=${this.link('plot', { reg: c.name })} title="plot ${c.name}"
                              >${c.name}</a
                            >
                            <span class="mono before">${c.before ?? '—'}</span> →
                            <span class="mono after">${c.after}</span>
                          </li>`,
                      )}
                    </ul>`
                  : nothing
              }
              ${
                e.version > 1
                  ? html`<a class="diff-link" href=${this.link('diff', { from: e.version - 1, to: e.version })}
                      >diff v${e.version - 1} → v${e.version}</a
                    >`
                  : nothing
              }
            </li>`,
        )}
    </ol>`;
  }

  private renderDiff() {
    const { from, to } = this.diffRange();
    const versions = this.events!.map((e) => e.version);
    const go = (e: Event) => {
      e.preventDefault();
      const form = e.target as HTMLFormElement;
      const f = Number((form.elements.namedItem('from') as HTMLSelectElement).value);
      const t = Number((form.elements.namedItem('to') as HTMLSelectElement).value);
      navigate(this.link('diff', { from: Math.min(f, t), to: Math.max(f, t) }));
    };
    const d = this.diff;
    return html`<form class="toolbar diff-form" @submit=${go}>
        <label
          >from
          <select name="from">
            ${versions.map((v) => html`<option value=${v} ?selected=${v === from}>v${v}</option>`)}
          </select></label
        >
        <label
          >to
          <select name="to">
            ${versions.map((v) => html`<option value=${v} ?selected=${v === to}>v${v}</option>`)}
          </select></label
        >
        <button type="submit">Compare</button>
      </form>
      ${this.diffError ? html`<p class="error">${this.diffError}</p>` : nothing}
      ${
        d
          ? html`<p class="diff-summary">
                ${d.changes.length} register${d.changes.length === 1 ? '' : 's'} changed between v${d.from} and v${d.to}
              </p>
              ${
                d.changes.length
                  ? html`<table class="diff">
                      <thead>
                        <tr>
                          <th>name</th>
                          <th>id</th>
                          <th>v${d.from}</th>
                          <th>v${d.to}</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${d.changes.map(
                          (c) =>
                            html`<tr data-name=${c.name}>
                              <td class=${c.generic ? 'generic' : ''}>${c.name}</td>
                              <td class="mono">${c.id}</td>
                              <td class="mono before">${c.before ?? '—'}</td>
                              <td class="mono after">${c.after ?? '—'}</td>
                            </tr>`,
                        )}
                      </tbody>
                    </table>`
                  : nothing
              }`
          : nothing
      }`;
  }

  private renderPlot() {
    const regs = this.head!.registers;
    const events = this.events!;
    const changing = regs.filter((r) => distinctValues(events, r.id) > 1);
    const wanted = this.query.get('reg');
    const reg = regs.find((r) => r.name === wanted || r.id === wanted) ?? changing[0] ?? regs[0];
    if (!reg) return html`<p class="empty">This vCPU has no registers.</p>`;
    const points = series(events, reg.id);
    const changed = points.filter((p) => p.changed);
    return html`<div class="toolbar">
        <label
          >register
          <select
            class="plot-register"
            @change=${(e: Event) => navigate(this.link('plot', { reg: (e.target as HTMLSelectElement).value }))}
          >
            ${
              changing.length
                ? html`<optgroup label="changed over the history">
                    ${changing.map((r) => html`<option value=${r.name} ?selected=${r === reg}>${r.name}</option>`)}
                  </optgroup>`
                : nothing
            }
            <optgroup label="every register">
              ${regs.map((r) => html`<option value=${r.name} ?selected=${r === reg && !changing.includes(r)}>${r.name}</option>`)}
            </optgroup>
          </select>
        </label>
        <span class="plot-facts"
          >${reg.name} (${reg.id}, ${reg.size} B): ${changed.length} value${changed.length === 1 ? '' : 's'} over
          ${events.length} versions</span
        >
      </div>
      <cpreg-plot
        .label=${reg.name}
        .xs=${points.map((p) => p.version)}
        .ys=${points.map((p) => plotNumber(p.value))}
      ></cpreg-plot>
      ${reg.size > 8 ? html`<p class="hint">A ${reg.size * 8}-bit value is plotted as a float: read it exactly below.</p>` : nothing}
      <table class="series">
        <thead>
          <tr>
            <th>version</th>
            <th>time</th>
            <th>event</th>
            <th>value</th>
          </tr>
        </thead>
        <tbody>
          ${changed.map(
            (p) =>
              html`<tr data-version=${p.version}>
                <td class="num">${p.version}</td>
                <td>${timeText(p.recordedAt)}</td>
                <td>${p.type}</td>
                <td class="mono value">${p.value}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
  }
}
customElements.define('cpreg-vcpu', CpregVcpu);
