import * as fs from 'fs';
import * as path from 'path';
import request from 'supertest';
import { convertBlob } from '../../domain/vmstate/format';
import { makeTestApp, type TestApp } from '../helpers/app';

/** Real QEMU 7.2 cpreg blocks through the API: create from the blob, export both formats, byte for byte. */
const DIR = path.join(__dirname, '../fixtures/qemu');
const blocks = fs.readdirSync(DIR).filter((f) => f.endsWith('.v22.bin'));

let t: TestApp;
beforeAll(() => {
  t = makeTestApp();
});
afterAll(() => t.close());

test.each(blocks)('%s: create (v22 and v23) → export v22 and v23 give the same bytes; names all real', async (file) => {
  const v22 = fs.readFileSync(path.join(DIR, file));
  const v23 = Buffer.from(convertBlob('v22', 'v23', new Uint8Array(v22)));
  const id = file.replace(/\.v22\.bin$/, '').replace(/[^A-Za-z0-9._:-]/g, '-');
  for (const [format, blob] of [
    ['v22', v22],
    ['v23', v23],
  ] as const) {
    const created = await request(t.app)
      .post(`/v1/cpus?format=${format}&accelerator=tcg&id=${id}.${format}`)
      .set('content-type', 'application/octet-stream')
      .send(blob);
    expect(created.status).toBe(201);
    expect(created.body.registers.every((r: { name: string }) => !/^S\d_\d_C\d+_C\d+_\d$|^p1[45] /.test(r.name))).toBe(
      true,
    );
    for (const [out, expected] of [
      ['v22', v22],
      ['v23', v23],
    ] as const) {
      const exported = await request(t.app).get(`/v1/cpus/${id}.${format}/migration?format=${out}`).buffer(true);
      expect(exported.status).toBe(200);
      expect(Buffer.compare(exported.body as Buffer, expected)).toBe(0);
    }
  }
});
