import { html, nothing, type PropertyValues } from 'lit';
import {
  listAllHostProfiles,
  listAllVcpus,
  unwrap,
  type CompatibilityMatrix,
  type Finding,
  type HostProfile,
  type Verdict,
  type VcpuListItem,
} from '../../../client';
import { api, errorText } from '../api';
import { labelList, labelsObject, parseLabelFilter } from '../model';
import { href, navigate } from '../router';
import { View } from './base';

const PAIR_SEP = '~';

/**
 * The fleet: the vCPUs (labels, machine type, the host profiles that take them), filterable by
 * label; the host profiles; and the compatibility matrix as a grid coloured by verdict, each cell
 * opening its reasons and warnings. URL: #/fleet?label=K=V&pair=CPU~PROFILE.
 */
export class CpregFleet extends View {
  static override properties = {
    query: { attribute: false },
    generation: { type: Number },
    vcpus: { state: true },
    profiles: { state: true },
    matrix: { state: true },
    error: { state: true },
    matrixError: { state: true },
    loading: { state: true },
  };
  declare query: URLSearchParams;
  declare generation: number;
  declare vcpus: VcpuListItem[] | undefined;
  declare profiles: HostProfile[] | undefined;
  declare matrix: CompatibilityMatrix | undefined;
  declare error: string | undefined;
  declare matrixError: string | undefined;
  declare loading: boolean;
  private seq = 0;
  private loadedKey = '';

  constructor() {
    super();
    this.query = new URLSearchParams();
    this.generation = 0;
    this.loading = false;
  }

  private get labels(): string[] {
    return this.query.getAll('label').flatMap(parseLabelFilter);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    const key = `${this.generation}|${this.labels.join('&')}`;
    if ((changed.has('query') || changed.has('generation')) && key !== this.loadedKey) {
      this.loadedKey = key;
      void this.load();
    }
  }

  private async load() {
    const seq = ++this.seq;
    const labels = this.labels;
    this.loading = true;
    this.error = undefined;
    this.matrixError = undefined;
    try {
      const [vcpus, profiles] = await Promise.all([listAllVcpus(api, labels), listAllHostProfiles(api)]);
      if (seq !== this.seq) return;
      this.vcpus = vcpus;
      this.profiles = profiles;
      this.matrix = undefined;
      if (vcpus.length && profiles.length) {
        try {
          const m = unwrap(
            await api.POST('/v1/compatibility', {
              body: labels.length ? { cpus: { label: labelsObject(labels) } } : {},
            }),
          );
          if (seq === this.seq) this.matrix = m;
        } catch (e) {
          if (seq === this.seq) this.matrixError = errorText(e);
        }
      }
    } catch (e) {
      if (seq === this.seq) this.error = errorText(e);
    } finally {
      if (seq === this.seq) this.loading = false;
    }
  }

  private filter(e: Event) {
    e.preventDefault();
    const text = this.querySelector<HTMLInputElement>('input[name=label]')?.value ?? '';
    navigate(href(['fleet'], { label: parseLabelFilter(text) }));
  }

  private addLabel(kv: string) {
    const labels = [...new Set([...this.labels, kv])];
    navigate(href(['fleet'], { label: labels }));
  }

  private pairHref(v: Verdict | undefined): string {
    const pair = v ? `${v.cpu}${PAIR_SEP}${v.hostProfile}` : undefined;
    return href(['fleet'], { label: this.labels, pair });
  }

  /** The profiles that take each vCPU (from the matrix). */
  private takers(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const p of this.matrix?.pairs ?? [])
      if (p.verdict === 'accepted') m.set(p.cpu, [...(m.get(p.cpu) ?? []), p.hostProfile]);
    return m;
  }

  protected override render() {
    if (this.error) return html`<p class="error">${this.error}</p>`;
    const labels = this.labels;
    const takers = this.takers();
    return html`<section class="card fleet-vcpus">
        <h2>vCPUs ${this.vcpus ? html`<span class="count">${this.vcpus.length}</span>` : nothing}</h2>
        <form class="filter" @submit=${this.filter}>
          <input
            name="label"
            type="search"
            placeholder="label filter: vm=web1 qemu.machine=virt-7.2"
            .value=${labels.join(' ')}
          />
          <button type="submit">Filter</button>
          ${labels.length ? html`<a href=${href(['fleet'])} class="clear-filter">clear</a>` : nothing}
        </form>
        ${this.loading && !this.vcpus ? html`<p class="loading">loading…</p>` : nothing}
        ${this.vcpus && !this.vcpus.length ? html`<p class="empty">No vCPU${labels.length ? ' has these labels' : ' yet'}.</p>` : nothing}
        ${
          this.vcpus?.length
            ? html`<table class="vcpus">
                <thead>
                  <tr>
                    <th>vCPU</th>
                    <th>accelerator</th>
                    <th>version</th>
                    <th>machine</th>
                    <th>labels</th>
                    <th>host profiles that take it</th>
                  </tr>
                </thead>
                <tbody>
                  ${this.vcpus.map(
                    (v) =>
                      html`<tr data-id=${v.id}>
                        <td><a class="vcpu-link" href=${href(['cpus', v.id])}>${v.id}</a></td>
                        <td>${v.accelerator}</td>
                        <td class="num">${v.version}</td>
                        <td class="machine">${v.labels['qemu.machine'] ?? '—'}</td>
                        <td class="labels">
                          ${labelList(v.labels).map(
                            (kv) =>
                              html`<button class="chip" title="filter by ${kv}" @click=${() => this.addLabel(kv)}>
                                ${kv}
                              </button>`,
                          )}
                        </td>
                        <td class="takers">
                          ${
                            this.matrix
                              ? (takers.get(v.id) ?? []).length
                                ? (takers.get(v.id) ?? []).map(
                                    (p) => html`<a class="chip ok" href=${href(['profiles', p])}>${p}</a>`,
                                  )
                                : html`<span class="none">none</span>`
                              : '—'
                          }
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
            : nothing
        }
      </section>
      ${this.renderProfiles()} ${this.renderMatrix()}`;
  }

  private renderProfiles() {
    const ps = this.profiles;
    return html`<section class="card fleet-profiles">
      <h2>Host profiles ${ps ? html`<span class="count">${ps.length}</span>` : nothing}</h2>
      ${
        ps && !ps.length
          ? html`<p class="empty">
              No host profile yet (PUT /v1/host-profiles/{id}, or <code>cpreg profile put</code>).
            </p>`
          : nothing
      }
      ${
        ps?.length
          ? html`<table class="profiles">
              <thead>
                <tr>
                  <th>profile</th>
                  <th>accelerator</th>
                  <th>QEMU</th>
                  <th>CPU model</th>
                  <th>machine</th>
                  <th>registers</th>
                  <th>labels</th>
                </tr>
              </thead>
              <tbody>
                ${ps.map(
                  (p) =>
                    html`<tr data-id=${p.id}>
                      <td><a href=${href(['profiles', p.id])}>${p.id}</a></td>
                      <td>${p.accelerator}</td>
                      <td>${p.qemu}</td>
                      <td>${p.cpuModel}</td>
                      <td>${p.machine ?? '—'}</td>
                      <td class="num">${p.arrayLen}</td>
                      <td class="labels">${labelList(p.labels).map((kv) => html`<span class="chip">${kv}</span>`)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : nothing
      }
    </section>`;
  }

  private renderMatrix() {
    if (this.matrixError)
      return html`<section class="card fleet-matrix">
        <h2>Compatibility matrix</h2>
        <p class="error">The service did not answer the matrix: ${this.matrixError}</p>
      </section>`;
    const m = this.matrix;
    if (!m) return nothing;
    const cell = new Map(m.pairs.map((p) => [`${p.cpu}${PAIR_SEP}${p.hostProfile}`, p]));
    const open = this.query.get('pair');
    const selected = open ? cell.get(open) : undefined;
    const refused = m.pairs.filter((p) => p.verdict === 'refused').length;
    return html`<section class="card fleet-matrix">
      <h2>Compatibility matrix</h2>
      <p class="legend">
        Will each vCPU load on each host? ${m.pairs.length - refused} accepted, ${refused} refused.
        <span class="swatch accepted"></span> accepted <span class="swatch warned"></span> accepted with warnings
        <span class="swatch refused"></span> refused — click a cell for its reasons.
      </p>
      <div class="matrix-scroll">
        <table class="matrix">
          <thead>
            <tr>
              <th class="corner">vCPU \\ host profile</th>
              ${m.hostProfiles.map((h) => html`<th class="profile-head" title=${h}><span>${h}</span></th>`)}
            </tr>
          </thead>
          <tbody>
            ${m.cpus.map(
              (c) =>
                html`<tr>
                  <th class="cpu-head"><a href=${href(['cpus', c])}>${c}</a></th>
                  ${m.hostProfiles.map((h) => {
                    const v = cell.get(`${c}${PAIR_SEP}${h}`);
                    if (!v) return html`<td class="cell none">—</td>`;
                    const kind = v.verdict === 'refused' ? 'refused' : v.warnings.length ? 'warned' : 'accepted';
                    const isOpen = selected === v;
                    return html`<td
                      class="cell ${kind} ${isOpen ? 'open' : ''}"
                      data-cpu=${c}
                      data-profile=${h}
                      data-verdict=${v.verdict}
                    >
                      <a href=${this.pairHref(isOpen ? undefined : v)} title="${c} → ${h}: ${v.verdict}"
                        >${
                          v.verdict === 'refused'
                            ? `✗ ${v.reasons.length}`
                            : v.warnings.length
                              ? `✓ ${v.warnings.length}⚠`
                              : '✓'
                        }</a
                      >
                    </td>`;
                  })}
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${selected ? this.renderPair(selected) : nothing}
    </section>`;
  }

  private renderPair(v: Verdict) {
    return html`<div class="pair-details" data-cpu=${v.cpu} data-profile=${v.hostProfile} data-verdict=${v.verdict}>
      <h3>
        <a href=${href(['cpus', v.cpu])}>${v.cpu}</a> →
        <a href=${href(['profiles', v.hostProfile])}>${v.hostProfile}</a>:
        <span class="verdict ${v.verdict}">${v.verdict}</span>
        <a class="close" href=${this.pairHref(undefined)} title="close">×</a>
      </h3>
      ${
        v.reasons.length
          ? html`<h4>Why QEMU would refuse the load (${v.reasons.length})</h4>
              <ul class="findings reasons">
                ${v.reasons.map((f) => finding(f))}
              </ul>`
          : html`<p>QEMU would accept this load.</p>`
      }
      ${
        v.warnings.length
          ? html`<h4>Warnings: accepted, but a value will not survive (${v.warnings.length})</h4>
              <ul class="findings warnings">
                ${v.warnings.map((f) => finding(f))}
              </ul>`
          : nothing
      }
    </div>`;
  }
}

function finding(f: Finding) {
  return html`<li class="finding" data-rule=${f.rule}>
    <span class="rule">${f.rule}</span> ${f.message}
    ${
      f.registers.length
        ? html`<table class="finding-registers">
            <thead>
              <tr>
                <th>register</th>
                <th>id</th>
                <th>incoming</th>
                <th>destination</th>
                <th>kept</th>
                <th>overwritten by</th>
              </tr>
            </thead>
            <tbody>
              ${f.registers.map(
                (r) =>
                  html`<tr data-name=${r.name}>
                    <td class=${r.generic ? 'generic' : ''}>${r.name}</td>
                    <td class="mono">${r.id}</td>
                    <td class="mono">${r.incoming ?? '—'}</td>
                    <td class="mono">${r.destination ?? '—'}</td>
                    <td class="mono">${r.kept ?? '—'}</td>
                    <td class="mono">${r.overwrittenBy ?? '—'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : nothing
    }
  </li>`;
}

customElements.define('cpreg-fleet', CpregFleet);
