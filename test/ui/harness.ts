import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { hashToken } from '../../api/auth';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer } from '../../api/server';
import {
  createCpregClient,
  exportBlob,
  importStream,
  putHostProfileFromStream,
  unwrap,
  writeRegisters,
  type CpregClient,
} from '../../client';
import { stream } from '../domain/qemu-stream/helpers';

/**
 * What the browser tests share: the page built (npm run build:ui), the started service with auth
 * on serving /ui/, on a loopback port, seeded with real QEMU streams through the public API, and
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
  url: string;
  api: CpregClient;
  close: () => Promise<void>;
}

/**
 * The service as `npm start` runs it (api/server.ts startServer): auth on (a write and a read
 * token), a signing key for checkpoints (none made on its own during a test), /ui/ served by the
 * app itself, SQLite in a temp dir.
 */
export async function startUiServer(): Promise<UiServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-ui-'));
  const tokens = path.join(dir, 'tokens.json');
  fs.writeFileSync(
    tokens,
    JSON.stringify([
      { name: 'ui-writer', role: 'write', sha256: hashToken(WRITE_TOKEN) },
      { name: 'ui-reader', role: 'read', sha256: hashToken('ui-reader-secret') },
    ]),
  );
  const key = path.join(dir, 'signing.pem');
  const pair = generateKeyPairSync('ed25519');
  fs.writeFileSync(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const server = await startServer(
    configFromEnv({
      HOST: '127.0.0.1',
      PORT: '0',
      CPREG_DB: path.join(dir, 'db', 'cpreg.db'),
      CPREG_TOKENS_FILE: tokens,
      CPREG_SIGNING_KEY_FILE: key,
      CPREG_CHECKPOINT_EVERY: '100000000',
      CPREG_CHECKPOINT_SECONDS: '604800',
    }),
    createLogger('silent'),
  );
  return {
    url: server.url,
    api: createCpregClient(server.url, { token: WRITE_TOKEN }),
    close: async () => {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
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
