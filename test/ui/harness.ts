import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import request from 'supertest';
import type { Browser } from 'puppeteer-core';
import { hashToken } from '../../api/auth';
import { uiRoutes } from '../../api/routes/ui';
import {
  createCpregClient,
  exportBlob,
  importStream,
  putHostProfileFromStream,
  unwrap,
  writeRegisters,
  type CpregClient,
} from '../../client';
import { makeTestApp, type TestApp } from '../helpers/app';
import { stream } from '../domain/qemu-stream/helpers';

/**
 * What the browser tests share: the page built (npm run build:ui), the real app with auth on and
 * /ui/ served, on a loopback port, seeded with real QEMU streams through the public API, and
 * Debian's chromium driven by puppeteer-core (never a downloaded browser).
 */

export const ROOT = path.resolve(__dirname, '../..');
export const CHROMIUM = process.env.CPREG_CHROMIUM || '/usr/bin/chromium';
export const WRITE_TOKEN = 'ui-writer-secret';

/** Why the browser tests cannot run here (undefined: they can). Under CI=true they never skip. */
export function browserMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (CI=true: the browser tests never skip)`);
  return `no ${CHROMIUM} (apt-get install -y chromium)`;
}

export function buildUi(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'ui/build.js')], { cwd: ROOT, stdio: 'pipe', timeout: 120000 });
}

export interface UiServer {
  t: TestApp;
  url: string;
  api: CpregClient;
  close: () => Promise<void>;
}

/** The app with tokens (auth on), /ui/ served beside it (by the app itself once it is wired there). */
export async function startUiServer(): Promise<UiServer> {
  const t = makeTestApp({
    tokens: [
      { name: 'ui-writer', role: 'write', sha256: Buffer.from(hashToken(WRITE_TOKEN), 'hex') },
      { name: 'ui-reader', role: 'read', sha256: Buffer.from(hashToken('ui-reader-secret'), 'hex') },
    ],
  });
  const served = (await request(t.app).get('/ui/')).status === 200;
  const handler = served ? t.app : express().use(uiRoutes()).use(t.app);
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    t,
    url,
    api: createCpregClient(url, { token: WRITE_TOKEN }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
    },
  };
}

/**
 * A small fleet of real QEMU imports: web1 (QEMU 7.2 cortex-a57), web2 (QEMU 10.0 cortex-a57,
 * two vCPUs), db1 (QEMU 7.2 max, two vCPUs); host profiles from idle streams of QEMU 7.2 and 10.0;
 * a history on web1.cpu0 (writes, a sync, an export).
 */
export async function seed(api: CpregClient): Promise<void> {
  await importStream(api, 'web1', stream('aarch64-cortex-a57'), { label: ['team=web'] });
  await importStream(api, 'web2', stream('q10-aarch64-cortex-a57-smp2'), { label: ['team=web'] });
  await importStream(api, 'db1', stream('aarch64-max-smp2'), { label: ['team=db'] });
  await putHostProfileFromStream(api, 'q72-a57', stream('aarch64-cortex-a57'), {
    qemu: '7.2',
    cpuModel: 'cortex-a57',
    label: ['rack=r1'],
  });
  await putHostProfileFromStream(api, 'q10-a57', stream('q10-aarch64-cortex-a57-smp2'), {
    qemu: '10.0',
    cpuModel: 'cortex-a57',
    label: ['rack=r2'],
  });
  await writeRegisters(api, 'web1.cpu0', { TPIDR_EL0: '0x0000ffff8000a000' }, { ifMatch: 1 });
  await writeRegisters(api, 'web1.cpu0', { TPIDR_EL0: '0x00007fff00001000', TPIDRRO_EL0: '0x42' });
  unwrap(
    await api.POST('/v1/cpus/{id}/syncs', {
      params: { path: { id: 'web1.cpu0' } },
      body: { direction: 'from-accelerator', values: { TPIDR_EL0: '0x0000bfff40000000', CNTKCTL_EL1: '0x3' } },
    }),
  );
  await exportBlob(api, 'web1.cpu0', 'v22');
  await writeRegisters(api, 'web1.cpu0', { TPIDR_EL0: '0x0000ffff8000d000' });
}

export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const puppeteer = await import('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
    timeout: 60000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
