/**
 * The page's one client of the service: the typed client (client/) at the page's own origin, so the
 * page speaks only the public API, exactly as any other client. With auth on, the token is asked
 * once and kept in sessionStorage (this tab only, gone when it closes); every 401 asks again.
 */
import { createCpregClient, ProblemError } from '../../client';

const KEY = 'cpreg.token';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** Fires `unauthorized` when the service answers 401 (no token, or a wrong one). */
export const authEvents = new EventTarget();

export const api = createCpregClient(location.origin, { token: storedToken });
api.use({
  onResponse({ response }) {
    if (response.status === 401) authEvents.dispatchEvent(new Event('unauthorized'));
    return undefined;
  },
});

/** An error as one line for the page: a problem's `status title: detail`, else its message. */
export function errorText(e: unknown): string {
  if (e instanceof ProblemError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function isUnauthorized(e: unknown): boolean {
  return e instanceof ProblemError && e.status === 401;
}
