import type request from 'supertest';

/** A supertest request whose answer body is kept as the bytes it was (a QEMU stream, a blob). */
export const binary = (req: request.Test) =>
  req.buffer(true).parse((res, cb) => {
    const parts: Buffer[] = [];
    res.on('data', (c: Buffer) => parts.push(c));
    res.on('end', () => cb(null, Buffer.concat(parts)));
  });
