import { html } from 'lit';
import { saveToken } from '../api';
import { View } from './base';

/** The token, asked once when the service answers 401; kept in sessionStorage (this tab only). */
export class CpregLogin extends View {
  static override properties = { failed: { type: Boolean } };
  declare failed: boolean;

  constructor() {
    super();
    this.failed = false;
  }

  private submit(e: Event) {
    e.preventDefault();
    const input = this.querySelector<HTMLInputElement>('input[name=token]');
    const token = input?.value.trim() ?? '';
    if (!token) return;
    saveToken(token);
    this.dispatchEvent(new CustomEvent('token-saved', { bubbles: true }));
  }

  protected override render() {
    return html`<form class="card login" @submit=${this.submit}>
      <h2>A token, please</h2>
      <p>
        ${
          this.failed
            ? 'The service did not take that token (401).'
            : 'The service has auth on: every /v1 request needs a bearer token.'
        }
        It is kept in this tab only (sessionStorage) and sent as <code>Authorization: Bearer …</code>.
      </p>
      <label>Token <input name="token" type="password" autocomplete="off" autofocus required /></label>
      <button type="submit">Use this token</button>
    </form>`;
  }
}
customElements.define('cpreg-login', CpregLogin);
