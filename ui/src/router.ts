/**
 * Each view has its own URL, in the hash (the service serves one page at /ui/):
 *
 *   #/fleet?label=vm=web1&pair=web1.cpu0~q10-a57   the fleet, a label filter, one matrix cell open
 *   #/cpus/{id}[?version=N&q=TPIDR]                 one vCPU's registers (at a version, searched)
 *   #/cpus/{id}/history                             its timeline
 *   #/cpus/{id}/diff?from=1&to=4                    the diff of two versions
 *   #/cpus/{id}/plot?reg=TPIDR_EL0                  one register's value over time
 *   #/profiles/{id}                                 one host profile
 *   #/audit                                         the hash chain and the global feed
 */

export type View = 'fleet' | 'vcpu' | 'profile' | 'audit';

export interface Route {
  view: View;
  id?: string;
  tab?: string;
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const [pathPart = '', queryPart = ''] = h.split(/\?(.*)/s, 2);
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(queryPart);
  if (parts[0] === 'cpus' && parts[1]) return { view: 'vcpu', id: parts[1], tab: parts[2] ?? 'registers', query };
  if (parts[0] === 'profiles' && parts[1]) return { view: 'profile', id: parts[1], query };
  if (parts[0] === 'audit') return { view: 'audit', query };
  return { view: 'fleet', query };
}

type QueryValue = string | number | undefined | null | Array<string | number>;

/** A link: `href(['cpus', id, 'diff'], {from: 1, to: 3})` → `#/cpus/vm1.cpu0/diff?from=1&to=3`. */
export function href(path: string[], query: Record<string, QueryValue> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  }
  const qs = q.toString();
  return '#/' + path.map(encodeURIComponent).join('/') + (qs ? `?${qs}` : '');
}

export function navigate(to: string): void {
  if (location.hash !== to) location.hash = to;
}

/** Changes the URL without a navigation (a search box keeps its text in the link). */
export function replaceQuery(to: string): void {
  history.replaceState(null, '', to);
}
