import { html, nothing } from 'lit';
import { authEvents, forgetToken, storedToken } from '../api';
import { href, parseHash, type Route } from '../router';
import { View } from './base';
import './audit';
import './fleet';
import './login';
import './profile';
import './vcpu';

/** The shell: the navigation, the token prompt, and the view the URL names. */
export class CpregApp extends View {
  static override properties = {
    route: { state: true },
    needToken: { state: true },
    generation: { state: true },
  };
  declare route: Route;
  declare needToken: boolean;
  /** Bumped when the token changes: every view loads again. */
  declare generation: number;
  private readonly onHash = () => (this.route = parseHash(location.hash));
  private readonly onUnauthorized = () => (this.needToken = true);

  constructor() {
    super();
    this.route = parseHash(location.hash);
    this.needToken = false;
    this.generation = 0;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHash);
    authEvents.addEventListener('unauthorized', this.onUnauthorized);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hashchange', this.onHash);
    authEvents.removeEventListener('unauthorized', this.onUnauthorized);
    super.disconnectedCallback();
  }

  private tokenSaved() {
    this.needToken = false;
    this.generation++;
  }

  private forget() {
    forgetToken();
    this.generation++;
  }

  private view() {
    const r = this.route;
    const g = this.generation;
    switch (r.view) {
      case 'vcpu':
        return html`<cpreg-vcpu
          .vcpuId=${r.id!}
          .tab=${r.tab ?? 'registers'}
          .query=${r.query}
          .generation=${g}
        ></cpreg-vcpu>`;
      case 'profile':
        return html`<cpreg-profile .profileId=${r.id!} .generation=${g}></cpreg-profile>`;
      case 'audit':
        return html`<cpreg-audit .query=${r.query} .generation=${g}></cpreg-audit>`;
      default:
        return html`<cpreg-fleet .query=${r.query} .generation=${g}></cpreg-fleet>`;
    }
  }

  protected override render() {
    const at = this.route.view;
    const hasToken = storedToken() !== null;
    return html`<header class="top">
        <a class="brand" href=${href(['fleet'])}>cpreg-ledger</a>
        <nav>
          <a href=${href(['fleet'])} class=${at === 'fleet' || at === 'vcpu' || at === 'profile' ? 'active' : ''}
            >Fleet</a
          >
          <a href=${href(['audit'])} class=${at === 'audit' ? 'active' : ''}>Audit</a>
        </nav>
        <span class="token-state">
          ${
            hasToken
              ? html`token set <button class="link forget-token" @click=${this.forget}>forget</button>`
              : html`<button class="link set-token" @click=${() => (this.needToken = true)}>token…</button>`
          }
        </span>
      </header>
      <main>
        ${
          this.needToken
            ? html`<cpreg-login .failed=${hasToken} @token-saved=${this.tokenSaved}></cpreg-login>`
            : nothing
        }
        ${this.view()}
      </main>`;
  }
}
customElements.define('cpreg-app', CpregApp);
