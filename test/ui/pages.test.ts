import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { exportBlob, unwrap, vcpuHistory, writeRegisters, type CompatibilityMatrix } from '../../client';
import {
  browserMissing,
  buildUi,
  launchChromium,
  ROOT,
  seed,
  startUiServer,
  WRITE_TOKEN,
  type UiServer,
} from './harness';

/**
 * The web page in a real browser: Debian's chromium driven by puppeteer-core against a started
 * server (auth on) holding real QEMU 7.2 and 10.0 imports and host profiles, clicking through each
 * view; every register, history entry, diff and verdict on screen is checked against what the API
 * answers. Without chromium (locally) this skips with one line; with CI=true it never skips.
 * CPREG_UI_SCREENSHOTS=docs/ui writes each view's screenshot there.
 */

const missing = browserMissing();
const SHOTS = process.env.CPREG_UI_SCREENSHOTS ? path.resolve(ROOT, process.env.CPREG_UI_SCREENSHOTS) : undefined;
const CPU = 'web1.cpu0';

if (missing) {
  process.stderr.write(`web page (browser) tests skipped: ${missing}\n`);
  test.skip(`the web page in chromium: skipped (${missing})`, () => undefined);
} else {
  let s: UiServer;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let page: Page;
  let downloads = '';
  const errors: string[] = [];

  beforeAll(async () => {
    buildUi();
    s = await startUiServer();
    await seed(s.api);
    ({ browser, close: closeBrowser } = await launchChromium());
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('pageerror', (e) => errors.push(String(e)));
    downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-downloads-'));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  }, 180000);

  afterAll(async () => {
    await closeBrowser?.();
    await s?.close();
    if (downloads) fs.rmSync(downloads, { recursive: true, force: true });
  });

  afterEach(() => expect(errors).toEqual([]));

  const shot = async (name: string) => {
    if (!SHOTS) return;
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const open = async (hash: string) => {
    await page.goto(`${s.url}/ui/${hash}`, { waitUntil: 'domcontentloaded' });
  };
  const texts = (selector: string) =>
    page.$$eval(selector, (els) => els.map((e) => (e as HTMLElement).innerText.trim()));
  const data = (selector: string, key: string) =>
    page.$$eval(selector, (els, k) => els.map((e) => (e as HTMLElement).dataset[k] ?? ''), key);
  const count = (selector: string, n: number) =>
    page.waitForFunction((sel, k) => document.querySelectorAll(sel).length === k, { timeout: 15000 }, selector, n);
  const matrix = async (body = {}) => unwrap(await s.api.POST('/v1/compatibility', { body })) as CompatibilityMatrix;

  test('auth on: the page asks for a token once, refuses a wrong one, keeps a good one in the tab', async () => {
    await open('');
    await page.waitForSelector('cpreg-login input[name=token]', { timeout: 15000 });
    await shot('login');
    await page.type('cpreg-login input[name=token]', 'not-the-token');
    await page.click('cpreg-login button[type=submit]');
    await page.waitForFunction(
      () => /did not take that token/.test(document.querySelector('cpreg-login')?.textContent ?? ''),
      {
        timeout: 15000,
      },
    );
    await page.$eval('cpreg-login input[name=token]', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('cpreg-login input[name=token]', WRITE_TOKEN);
    await page.click('cpreg-login button[type=submit]');
    await page.waitForSelector('table.vcpus', { timeout: 15000 });
    expect(await page.$('cpreg-login')).toBeNull();
    expect(await page.evaluate(() => sessionStorage.getItem('cpreg.token'))).toBe(WRITE_TOKEN);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('table.vcpus', { timeout: 15000 });
    expect(await page.$('cpreg-login')).toBeNull();
  });

  test('the fleet: vCPUs with machine types and labels, host profiles, the matrix coloured by verdict', async () => {
    await open('#/fleet');
    await count('table.vcpus tbody tr', 5);
    await count('table.matrix td.cell', 10);
    const vcpus = await s.api.GET('/v1/cpus', {}).then(unwrap);
    expect(await data('table.vcpus tbody tr', 'id')).toEqual(vcpus.items.map((v) => v.id));
    expect(await texts('table.vcpus td.machine')).toEqual(vcpus.items.map((v) => v.labels['qemu.machine']));
    expect(await texts('table.profiles tbody td:first-child')).toEqual(['q10-a57', 'q72-a57']);
    // every cell shows the API's verdict, coloured by it
    const m = await matrix();
    const cells = await page.$$eval('table.matrix td.cell', (tds) =>
      tds.map((td) => ({
        cpu: (td as HTMLElement).dataset.cpu,
        profile: (td as HTMLElement).dataset.profile,
        verdict: (td as HTMLElement).dataset.verdict,
        colour: td.classList.contains('refused') ? 'refused' : 'accepted',
      })),
    );
    expect(cells).toEqual(
      expect.arrayContaining(
        m.pairs.map((p) => ({ cpu: p.cpu, profile: p.hostProfile, verdict: p.verdict, colour: p.verdict })),
      ),
    );
    expect(cells).toHaveLength(m.pairs.length);
    // the QEMU 7.2 vCPU loads on the 7.2 host and not on the 10.0 one; the 10.0 ones the other way round
    const verdict = (cpu: string, profile: string) =>
      cells.find((c) => c.cpu === cpu && c.profile === profile)?.verdict;
    expect([verdict('web1.cpu0', 'q72-a57'), verdict('web1.cpu0', 'q10-a57')]).toEqual(['accepted', 'refused']);
    expect([verdict('web2.cpu0', 'q10-a57'), verdict('web2.cpu0', 'q72-a57')]).toEqual(['accepted', 'refused']);
    // the profiles that take each vCPU
    expect(await page.$eval('table.vcpus tr[data-id="web1.cpu0"] td.takers', (e) => (e as HTMLElement).innerText)).toBe(
      'q72-a57',
    );
    await shot('fleet');
  });

  test('a matrix cell opens its reasons, with the rules and registers the API names', async () => {
    await page.click('table.matrix td.cell[data-cpu="web1.cpu0"][data-profile="q10-a57"] a');
    await page.waitForSelector('.pair-details[data-cpu="web1.cpu0"][data-profile="q10-a57"]', { timeout: 15000 });
    expect(page.url()).toContain('pair=web1.cpu0%7Eq10-a57');
    const pair = (await matrix({ cpus: ['web1.cpu0'], hostProfiles: ['q10-a57'] })).pairs[0]!;
    expect(pair.verdict).toBe('refused');
    expect(await data('.pair-details ul.reasons li.finding', 'rule')).toEqual(pair.reasons.map((f) => f.rule));
    expect(await data('.pair-details ul.reasons li.finding tr[data-name]', 'name')).toEqual(
      pair.reasons.flatMap((f) => f.registers.map((r) => r.name)),
    );
    expect(await page.$eval('.pair-details .verdict', (e) => e.textContent)).toBe('refused');
    await shot('matrix-reasons');
    // an accepted cell says so
    await page.click('table.matrix td.cell[data-cpu="web1.cpu0"][data-profile="q72-a57"] a');
    await page.waitForSelector('.pair-details[data-verdict="accepted"]', { timeout: 15000 });
  });

  test('the label filter narrows the vCPUs and the matrix (and is in the URL)', async () => {
    await page.$eval('form.filter input[name=label]', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('form.filter input[name=label]', 'team=web vm=web2');
    await page.keyboard.press('Enter');
    await count('table.vcpus tbody tr', 2);
    expect(page.url()).toMatch(/label=team%3Dweb&label=vm%3Dweb2/);
    expect(await data('table.vcpus tbody tr', 'id')).toEqual(['web2.cpu0', 'web2.cpu1']);
    await count('table.matrix td.cell', 4);
    await page.click('a.clear-filter');
    await count('table.vcpus tbody tr', 5);
  });

  test('one vCPU: its registers (name, real or generic, size, slots, value), searchable, at any version', async () => {
    await page.click('table.vcpus a.vcpu-link[href="#/cpus/web1.cpu0"]');
    const state = unwrap(await s.api.GET('/v1/cpus/{id}', { params: { path: { id: CPU } } }));
    await count('table.registers tbody tr', state.registers.length);
    const rows = await page.$$eval('table.registers tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.innerText.trim())),
    );
    expect(rows).toEqual(
      state.registers.map((r) => [r.id, r.name, r.generic ? 'generic' : 'real', `${r.size} B`, `${r.slots}`, r.value]),
    );
    await page.type('input.reg-search', 'tpidr');
    const tpidr = state.registers.filter((r) => /tpidr/i.test(`${r.id} ${r.name}`));
    await count('table.registers tbody tr', tpidr.length);
    expect(await data('table.registers tbody tr', 'name')).toEqual(tpidr.map((r) => r.name));
    expect(await page.$eval('tr[data-name="TPIDR_EL0"] td.value', (e) => e.textContent)).toBe('0x0000ffff8000d000');
    expect(page.url()).toContain('q=tpidr');
    await shot('vcpu-registers');
    // at version 2 (the select navigates; the search stays)
    await page.select('select.version', '2');
    await page.waitForFunction(() => location.hash.includes('version=2'), { timeout: 15000 });
    const v2 = unwrap(await s.api.GET('/v1/cpus/{id}', { params: { path: { id: CPU }, query: { version: 2 } } }));
    const want = v2.registers.find((r) => r.name === 'TPIDR_EL0')!.value;
    await page.waitForFunction(
      (v) => document.querySelector('tr[data-name="TPIDR_EL0"] td.value')?.textContent === v,
      { timeout: 15000 },
      want,
    );
    expect(want).toBe('0x0000ffff8000a000');
  });

  test('the history as a timeline: type, actor, time, correlation id, what changed by register name', async () => {
    await page.click('nav.tabs a[data-tab=history]');
    const events = await vcpuHistory(s.api, CPU);
    await count('ol.timeline li.event', events.length);
    expect(await data('ol.timeline li.event', 'type')).toEqual(events.map((e) => e.type).reverse());
    const heads = await texts('ol.timeline li.event .event-head');
    events
      .slice()
      .reverse()
      .forEach((e, i) => {
        expect(heads[i]).toContain(`v${e.version}`);
        expect(heads[i]).toContain(e.metadata.actor!);
        expect(heads[i]).toContain(e.metadata.correlationId!);
        expect(heads[i]).toContain(e.metadata.recordedAt!.replace('T', ' ').replace('Z', ''));
      });
    // what changed, by name, with the values of the API's diff of each step
    for (const e of events.filter((x) => x.version > 1)) {
      const d = unwrap(
        await s.api.GET('/v1/cpus/{id}/diff', {
          params: { path: { id: CPU }, query: { from: e.version - 1, to: e.version } },
        }),
      );
      const shown = await page.$$eval(`li.event[data-version="${e.version}"] ul.changes li`, (lis) =>
        lis.map((li) => ({
          name: (li as HTMLElement).dataset.name,
          before: li.querySelector('.before')?.textContent,
          after: li.querySelector('.after')?.textContent,
        })),
      );
      expect(shown.sort((a, b) => a.name!.localeCompare(b.name!))).toEqual(
        d.changes
          .map((c) => ({ name: c.name, before: c.before, after: c.after }))
          .sort((a, b) => a.name.localeCompare(b.name)),
      );
    }
    expect(await texts('li.event[data-type="BlobExported"] .note')).toEqual([
      expect.stringMatching(/v22 blob: \d+ bytes, sha256 [0-9a-f]{64}/),
    ]);
    await shot('vcpu-history');
  });

  test('the diff of any two versions', async () => {
    await page.click('nav.tabs a[data-tab=diff]');
    await page.waitForSelector('form.diff-form', { timeout: 15000 });
    await page.select('form.diff-form select[name=from]', '1');
    await page.select('form.diff-form select[name=to]', '4');
    await page.click('form.diff-form button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('from=1&to=4'), { timeout: 15000 });
    const d = unwrap(
      await s.api.GET('/v1/cpus/{id}/diff', { params: { path: { id: CPU }, query: { from: 1, to: 4 } } }),
    );
    await count('table.diff tbody tr', d.changes.length);
    const rows = await page.$$eval('table.diff tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
    );
    expect(rows).toEqual(d.changes.map((c) => [c.name, c.id, c.before, c.after]));
    expect(await page.$eval('.diff-summary', (e) => e.textContent?.trim())).toBe(
      `${d.changes.length} registers changed between v1 and v4`,
    );
    await shot('vcpu-diff');
    // a deep link to another pair of versions
    await open('#/cpus/web1.cpu0/diff?from=3&to=6');
    const d36 = unwrap(
      await s.api.GET('/v1/cpus/{id}/diff', { params: { path: { id: CPU }, query: { from: 3, to: 6 } } }),
    );
    await page.waitForFunction(
      (n) =>
        document.querySelector('.diff-summary')?.textContent?.includes(`${n} register`) &&
        /v3 and v6/.test(document.querySelector('.diff-summary')?.textContent ?? ''),
      { timeout: 15000 },
      d36.changes.length,
    );
    expect(await data('table.diff tbody tr', 'name')).toEqual(d36.changes.map((c) => c.name));
  });

  test("one register's value over time, as a plot", async () => {
    await page.click('nav.tabs a[data-tab=plot]');
    await page.waitForSelector('select.plot-register', { timeout: 15000 });
    await page.select('select.plot-register', 'TPIDR_EL0');
    await page.waitForFunction(() => location.hash.includes('reg=TPIDR_EL0'), { timeout: 15000 });
    const events = await vcpuHistory(s.api, CPU);
    await page.waitForSelector(`.plot-area[data-points="${events.length}"] canvas`, { timeout: 15000 });
    // each point where the value changed, checked against the state at that version
    const rows = await page.$$eval('table.series tbody tr', (trs) =>
      trs.map((tr) => ({
        version: Number((tr as HTMLElement).dataset.version),
        value: tr.querySelector('.value')?.textContent,
      })),
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 6]);
    for (const r of rows) {
      const at = unwrap(
        await s.api.GET('/v1/cpus/{id}', { params: { path: { id: CPU }, query: { version: r.version } } }),
      );
      expect(r.value).toBe(at.registers.find((x) => x.name === 'TPIDR_EL0')!.value);
    }
    await shot('vcpu-plot');
  });

  test('export buttons: v23 downloads the blob the API exports, and the export is in the history', async () => {
    await page.click('button.export[data-format=v23]');
    await page.waitForFunction(
      () => /sha256 [0-9a-f]{64}/.test(document.querySelector('.export-message')?.textContent ?? ''),
      {
        timeout: 15000,
      },
    );
    const message = await page.$eval('.export-message', (e) => e.textContent ?? '');
    const file = path.join(downloads, `${CPU}.v23`);
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    const bytes = fs.readFileSync(file);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(message).toContain(`${CPU}.v23: ${bytes.length} bytes`);
    expect(message).toContain(sha);
    const api = await exportBlob(s.api, CPU, 'v23'); // the same state: the same blob (not recorded twice)
    expect(Buffer.from(api.bytes)).toEqual(bytes);
    const events = await vcpuHistory(s.api, CPU);
    expect(events.at(-1)).toMatchObject({ type: 'BlobExported', data: { format: 'v23', sha256: sha } });
    await page.click('nav.tabs a[data-tab=history]');
    await page.waitForSelector(`li.event[data-version="${events.at(-1)!.version}"][data-type="BlobExported"]`, {
      timeout: 15000,
    });
  });

  test('the audit: the chain, a signed checkpoint on demand, the keys, the feed with hashes', async () => {
    await page.click('header.top nav a[href="#/audit"]');
    const v = unwrap(await s.api.GET('/v1/audit/verify'));
    await page.waitForSelector('.chain-status[data-ok="true"]', { timeout: 15000 });
    expect(await page.$eval('.chain-events', (e) => e.textContent)).toBe(String(v.events));
    expect(await page.$eval('.head-hash', (e) => e.textContent)).toBe(v.headHash);
    await page.waitForSelector('.latest-none', { timeout: 15000 });
    expect(await page.$eval('.checkpoint-status', (e) => (e as HTMLElement).dataset.ok)).toBe('none');
    const keys = unwrap(await s.api.GET('/v1/audit/keys')).keys;
    expect(await data('ul.keys li', 'key')).toEqual(keys.map((k) => k.keyId));
    // a checkpoint, signed now (write token)
    await page.click('button.checkpoint-now');
    await page.waitForSelector('.latest-size', { timeout: 15000 });
    const latest = unwrap(await s.api.GET('/v1/audit/checkpoints/latest'));
    expect(await page.$eval('.latest-size', (e) => e.textContent)).toBe(String(latest.treeSize));
    expect(await page.$eval('.latest-root', (e) => e.textContent)).toBe(latest.rootHash);
    await page.waitForSelector('.checkpoint-status[data-ok="true"]', { timeout: 15000 });
    const feed = unwrap(await s.api.GET('/v1/events', { params: { query: { after: 0, limit: 1000 } } })).events;
    await count('table.feed tbody tr', Math.min(50, feed.length));
    expect((await data('table.feed tbody tr', 'position')).map(Number)).toEqual(
      feed
        .map((e) => e.position)
        .reverse()
        .slice(0, 50),
    );
    expect(await page.$eval('table.feed tbody tr td.hash', (e) => e.getAttribute('title'))).toBe(feed.at(-1)!.hash);
    await shot('audit');
  });

  test('a proof for any event: the inclusion proof, checked in the browser against the signed root', async () => {
    const latest = unwrap(await s.api.GET('/v1/audit/checkpoints/latest'));
    await page.click('table.feed tr[data-position="3"] a.prove');
    await page.waitForSelector('.audit-proof[data-position="3"] .proof-result', { timeout: 15000 });
    expect(page.url()).toContain('prove=3');
    const result = await page.$eval('.proof-result', (e) => ({ ...(e as HTMLElement).dataset }));
    expect(result).toEqual({ ok: 'true', signed: 'true' });
    expect(await page.$eval('.computed-root', (e) => e.textContent?.trim())).toBe(latest.rootHash);
    const proof = unwrap(
      await s.api.GET('/v1/audit/proofs/inclusion', { params: { query: { position: 3, treeSize: latest.treeSize } } }),
    );
    expect(await page.$$eval('table.proof tr', (trs) => trs.length)).toBe(proof.proof.length + 3);
    await shot('audit-proof');
  });

  test('the feed followed live over SSE', async () => {
    const v = unwrap(await s.api.GET('/v1/audit/verify'));
    await page.click('button.live');
    await page.waitForSelector('button.live.on', { timeout: 15000 });
    await new Promise((r) => setTimeout(r, 300));
    await writeRegisters(s.api, CPU, { TPIDR_EL0: '0x0000ffff8000e000' });
    const last = unwrap(await s.api.GET('/v1/events', { params: { query: { after: v.events, limit: 10 } } })).events.at(
      -1,
    )!;
    await page.waitForSelector(`table.feed tbody tr[data-position="${last.position}"]`, { timeout: 15000 });
    expect((await data('table.feed tbody tr', 'position'))[0]).toBe(String(last.position));
    await page.click('button.live');
    await page.waitForSelector('button.live:not(.on)', { timeout: 15000 });
  });

  test("every view has its own URL: a host profile, another vCPU's plot, a missing vCPU", async () => {
    await open('#/profiles/q10-a57');
    const p = unwrap(await s.api.GET('/v1/host-profiles/{id}', { params: { path: { id: 'q10-a57' } } }));
    await count('table.profile-registers tbody tr', p.arrayLen);
    await open(`#/cpus/web2.cpu1/plot?reg=TPIDR_EL0`);
    await page.waitForSelector('.plot-area canvas', { timeout: 15000 });
    await open('#/audit?prove=2');
    await page.waitForSelector('.audit-proof[data-position="2"] .proof-result[data-ok="true"]', { timeout: 15000 });
    await open('#/cpus/nosuch.cpu0');
    await page.waitForFunction(
      () => /404 Not found/.test(document.querySelector('cpreg-vcpu .error')?.textContent ?? ''),
      {
        timeout: 15000,
      },
    );
  });
}
