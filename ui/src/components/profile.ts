import { html, type PropertyValues } from 'lit';
import { unwrap, type HostProfile } from '../../../client';
import { api, errorText } from '../api';
import { labelList } from '../model';
import { href } from '../router';
import { View } from './base';

/** One host profile: what its QEMU migrates for an idle vCPU (ids and values). URL: #/profiles/{id}. */
export class CpregProfile extends View {
  static override properties = {
    profileId: { attribute: false },
    generation: { type: Number },
    profile: { state: true },
    error: { state: true },
  };
  declare profileId: string;
  declare generation: number;
  declare profile: HostProfile | undefined;
  declare error: string | undefined;
  private loadedKey = '';

  constructor() {
    super();
    this.profileId = '';
    this.generation = 0;
  }

  protected override willUpdate(_changed: PropertyValues<this>): void {
    const key = `${this.generation}|${this.profileId}`;
    if (key === this.loadedKey) return;
    this.loadedKey = key;
    this.error = undefined;
    api
      .GET('/v1/host-profiles/{id}', { params: { path: { id: this.profileId } } })
      .then(unwrap)
      .then((p) => (this.profile = p))
      .catch((e: unknown) => (this.error = errorText(e)));
  }

  protected override render() {
    if (this.error) return html`<p class="error">${this.error}</p>`;
    const p = this.profile;
    if (!p) return html`<p class="loading">loading ${this.profileId}…</p>`;
    const regs = Object.entries(p.registers);
    return html`<section class="card profile-head">
        <h2>${p.id}</h2>
        <p class="facts">
          host profile · version ${p.version} · ${p.accelerator} · QEMU ${p.qemu} · ${p.cpuModel} · machine
          ${p.machine ?? '—'} · ${p.arrayLen} registers
        </p>
        <p class="labels">${labelList(p.labels).map((kv) => html`<span class="chip">${kv}</span>`)}</p>
        <p><a href=${href(['fleet'])}>the fleet and its matrix</a></p>
      </section>
      <section class="card">
        <table class="registers profile-registers">
          <thead>
            <tr>
              <th>id</th>
              <th>value</th>
              ${p.writableMasks ? html`<th>writable mask</th>` : ''}
            </tr>
          </thead>
          <tbody>
            ${regs.map(
              ([id, v]) =>
                html`<tr data-id=${id}>
                  <td class="mono">${id}</td>
                  <td class="mono value">${v}</td>
                  ${p.writableMasks ? html`<td class="mono">${p.writableMasks[id] ?? '—'}</td>` : ''}
                </tr>`,
            )}
          </tbody>
        </table>
      </section>`;
  }
}
customElements.define('cpreg-profile', CpregProfile);
