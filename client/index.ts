/**
 * The typed client of cpreg-ledger: openapi-fetch over the types generated from openapi.yaml
 * (api/generated/openapi.ts, `npm run gen`), so every path, parameter and answer is checked by the
 * compiler against the contract. Used by the CLI (cli/), the web page (ui/) and the API tests.
 *
 *   const api = createCpregClient('http://127.0.0.1:8080', { token });
 *   const cpu = unwrap(await api.GET('/v1/cpus/{id}', { params: { path: { id: 'vm1.cpu0' } } }));
 *
 * It runs in Node 20 (global fetch) and in browsers; it imports nothing of Node.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from '../api/generated/openapi';
import { unwrap } from './problem';

export type { components, operations, paths };
export * from './hex';
export * from './problem';
export * from './feed';
export * from './merkle';

export type Schemas = components['schemas'];
export type VcpuState = Schemas['VcpuState'];
export type VcpuListItem = Schemas['VcpuListItem'];
export type Register = Schemas['Register'];
export type NamedValue = Schemas['NamedValue'];
export type WriteSummary = Schemas['WriteSummary'];
export type SyncResult = Schemas['SyncResult'];
export type CpregArrays = Schemas['CpregArrays'];
export type LoadReport = Schemas['LoadReport'];
export type CpregEvent = Schemas['Event'];
export type EventPage = Schemas['EventPage'];
export type HostProfile = Schemas['HostProfile'];
export type HostProfileRequest = Schemas['HostProfileRequest'];
export type CompatibilityMatrix = Schemas['CompatibilityMatrix'];
export type CompatibilityRequest = Schemas['CompatibilityRequest'];
export type Verdict = Schemas['Verdict'];
export type Finding = Schemas['Finding'];
export type StreamInspection = Schemas['StreamInspection'];
export type Problem = Schemas['Problem'];
export type BlobFormat = Schemas['BlobFormat'];
export type Accelerator = Schemas['Accelerator'];
export type Labels = Schemas['Labels'];
export type Diff = operations['diff']['responses'][200]['content']['application/json'];
export type Change = Diff['changes'][number];
export type AuditVerdict = operations['verify']['responses'][200]['content']['application/json'];
export type ImportAnswer = operations['importStream']['responses'][200]['content']['application/json'];
export type Checkpoint = Schemas['Checkpoint'];
export type AuditKeys = operations['auditKeys']['responses'][200]['content']['application/json'];
export type InclusionProofAnswer = operations['inclusionProof']['responses'][200]['content']['application/json'];

export type CpregClient = Client<paths, 'application/json'>;

export interface CpregClientOptions {
  /** Bearer token; a function is asked before every request (a page whose user logs in later). */
  token?: string | (() => string | null | undefined);
  /** Another fetch (tests, instrumentation); default globalThis.fetch. */
  fetch?: (input: Request) => Promise<Response>;
  /** Headers sent with every request (X-Correlation-Id, say). */
  headers?: Record<string, string>;
}

/**
 * A client of the service at `baseUrl` (`http://127.0.0.1:8080`, or `location.origin` on the page).
 * A malformed URL is a TypeError here, not at the first request.
 */
export function createCpregClient(baseUrl: string, opts: CpregClientOptions = {}): CpregClient {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`an http:// or https:// URL is needed, got ${JSON.stringify(baseUrl)}`);
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
  const token = opts.token;
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const t = typeof token === 'function' ? token() : token;
        if (t) request.headers.set('authorization', `Bearer ${t}`);
        return request;
      },
    });
  }
  return client;
}

/** `"7"` → 7 (the vCPU's stream version); undefined for no or another tag. */
export function etagVersion(response: Response): number | undefined {
  const m = /^"(\d+)"$/.exec(response.headers.get('etag') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** An If-Match value from a version (`3` → `"3"`); a tag already quoted, `*` or a list is kept. */
export function ifMatch(v: number | string): string {
  const s = String(v).trim();
  return /^\d+$/.test(s) ? `"${s}"` : s;
}

/** Bytes as the body of an octet-stream request (openapi-typescript types binary bodies as string). */
const binary = (bytes: Uint8Array): string => bytes as unknown as string;
const asIs = (b: unknown) => b;
const OCTETS = { 'content-type': 'application/octet-stream' };

export interface WriteOptions {
  ifMatch?: number | string;
  idempotencyKey?: string;
  /** `Prefer: handling=strict`: refused (409 qemu-would-refuse) when the answer would carry warnings. */
  strict?: boolean;
}

function writeHeaders(o: WriteOptions): Record<string, string> {
  const h: Record<string, string> = {};
  if (o.ifMatch !== undefined) h['if-match'] = ifMatch(o.ifMatch);
  if (o.idempotencyKey !== undefined) h['idempotency-key'] = o.idempotencyKey;
  if (o.strict) h.prefer = 'handling=strict';
  return h;
}

/** Every item of a listing paged by an `after` cursor (`next`), 1,000 at a time. */
async function allPages<T>(page: (after: string | undefined) => Promise<{ items: T[]; next?: string | null }>) {
  const items: T[] = [];
  let after: string | undefined;
  for (let n = 0; n < 100_000; n++) {
    const p = await page(after);
    items.push(...p.items);
    if (!p.next) break;
    after = p.next;
  }
  return items;
}

const listQuery = (labels: string[], after: string | undefined) => ({
  limit: 1000,
  ...(labels.length ? { label: labels } : {}),
  ...(after ? { after } : {}),
});

/** Every vCPU (all pages), optionally those with all of `labels` (`key=value`). */
export function listAllVcpus(api: CpregClient, labels: string[] = []): Promise<VcpuListItem[]> {
  return allPages(async (after) => unwrap(await api.GET('/v1/cpus', { params: { query: listQuery(labels, after) } })));
}

/** Every host profile (all pages), optionally those with all of `labels`. */
export function listAllHostProfiles(api: CpregClient, labels: string[] = []): Promise<HostProfile[]> {
  return allPages(async (after) =>
    unwrap(await api.GET('/v1/host-profiles', { params: { query: listQuery(labels, after) } })),
  );
}

/** A vCPU's whole history (all pages), oldest first; `after` a version to start after. */
export async function vcpuHistory(api: CpregClient, id: string, after = 0): Promise<CpregEvent[]> {
  const events: CpregEvent[] = [];
  let cursor = after;
  for (let page = 0; page < 1_000_000; page++) {
    const p = unwrap(
      await api.GET('/v1/cpus/{id}/events', { params: { path: { id }, query: { after: cursor, limit: 1000 } } }),
    );
    events.push(...p.events);
    if (p.next === null || p.next === undefined || p.events.length === 0) break;
    cursor = p.next;
  }
  return events;
}

/** Writes one register (by id or name) with PUT, several with one PATCH (all or nothing). */
export async function writeRegisters(
  api: CpregClient,
  id: string,
  values: Record<string, string>,
  o: WriteOptions = {},
): Promise<{ summary: WriteSummary; version: number | undefined }> {
  const entries = Object.entries(values);
  const headers = writeHeaders(o);
  const only = entries.length === 1 ? entries[0] : undefined;
  const r = only
    ? await api.PUT('/v1/cpus/{id}/registers/{reg}', {
        params: { path: { id, reg: only[0] } },
        body: { value: only[1] },
        headers,
      })
    : await api.PATCH('/v1/cpus/{id}/registers', { params: { path: { id } }, body: { values }, headers });
  return { summary: unwrap(r), version: etagVersion(r.response) };
}

/** `GET /v1/cpus/{id}/migration?format=…`: the blob (the export is recorded), its sha256 and version. */
export async function exportBlob(
  api: CpregClient,
  id: string,
  format: BlobFormat,
): Promise<{ bytes: Uint8Array; sha256: string | null; version: number | undefined }> {
  const r = await api.GET('/v1/cpus/{id}/migration', {
    params: { path: { id }, query: { format } },
    parseAs: 'arrayBuffer',
  });
  const data = unwrap(r);
  return {
    bytes: new Uint8Array(data),
    sha256: r.response.headers.get('x-content-sha256'),
    version: etagVersion(r.response),
  };
}

/** `PUT …/migration` (the load, recorded) or, with `dryRun`, `POST …/migration/check` (records nothing). */
export async function loadBlob(
  api: CpregClient,
  id: string,
  format: BlobFormat,
  bytes: Uint8Array,
  o: WriteOptions & { dryRun?: boolean } = {},
): Promise<LoadReport> {
  const init = {
    params: { path: { id }, query: { format } },
    body: binary(bytes),
    bodySerializer: asIs,
    headers: { ...OCTETS, ...writeHeaders(o) },
  };
  return unwrap(
    o.dryRun ? await api.POST('/v1/cpus/{id}/migration/check', init) : await api.PUT('/v1/cpus/{id}/migration', init),
  );
}

/** `POST /v1/cpus` with a blob body: a vCPU created from a v22/v23 blob. */
export async function createVcpuFromBlob(
  api: CpregClient,
  bytes: Uint8Array,
  q: { format: BlobFormat; accelerator?: Accelerator; id?: string },
  o: { idempotencyKey?: string } = {},
): Promise<VcpuState> {
  return unwrap(
    await api.POST('/v1/cpus', {
      params: { query: q },
      body: binary(bytes),
      bodySerializer: asIs,
      headers: { ...OCTETS, ...writeHeaders(o) },
    }),
  );
}

/** `POST /v1/qemu-streams/import?vm=…` with a whole stream in memory (the CLI streams files itself). */
export async function importStream(
  api: CpregClient,
  vm: string,
  stream: Uint8Array,
  q: { accelerator?: Accelerator; label?: string[] } = {},
): Promise<ImportAnswer> {
  return unwrap(
    await api.POST('/v1/qemu-streams/import', {
      params: { query: { vm, ...q } },
      body: binary(stream),
      bodySerializer: asIs,
      headers: OCTETS,
    }),
  );
}

/** `PUT /v1/host-profiles/{id}` from an idle stream of that host (octet-stream). */
export async function putHostProfileFromStream(
  api: CpregClient,
  id: string,
  stream: Uint8Array,
  q: { qemu: string; cpuModel?: string; accelerator?: 'tcg' | 'kvm'; label?: string[] },
  o: WriteOptions = {},
): Promise<HostProfile> {
  return unwrap(
    await api.PUT('/v1/host-profiles/{id}', {
      params: { path: { id }, query: q },
      body: binary(stream),
      bodySerializer: asIs,
      headers: { ...OCTETS, ...writeHeaders(o) },
    }),
  );
}
