import { eventJsonText, jsonPageOf } from '../../storage/event-json';
import { freshStore } from './helpers';

// The feed's JSON texts composed by SQLite must be the bytes the API made from the raw rows.
describe('SQLite feed as JSON texts', () => {
  const h = freshStore();
  afterAll(() => h.done());

  beforeAll(async () => {
    const odd = ['é ✓ "quoted" \\ back\\slash', 'tab\there\nnewline', '\u2028 \u0001 \u001f', '😀'];
    for (let k = 0; k < 40; k++) {
      await h.store.append({
        streamId: ['cpu-a', 'vm1.cpu0', 'host:x_y-z', 'A9'][k % 4]!,
        expectedVersion: Math.floor(k / 4),
        events: [
          {
            type: k % 3 ? 'RegistersWritten' : 'Tested',
            schemaVersion: 1 + (k % 2),
            data: { n: k, text: odd[k % odd.length], nested: { a: [1, 2.5, null, true] } },
          },
        ],
        metadata: { actor: odd[k % odd.length]!, requestId: `r${k}` },
      });
    }
  });

  test.each([
    [0, 1000, 1 << 30],
    [0, 7, 1 << 30],
    [13, 5, 1 << 30],
    [0, 1000, 600],
    [39, 10, 1 << 30],
    [40, 10, 1 << 30],
  ])(
    'after %i, limit %i, %i bytes: the same texts, last and more as from the raw rows',
    async (after, limit, bytes) => {
      const raw = await h.store.readFeedRaw(after, limit, bytes);
      const json = await h.store.readFeedJson(after, limit, bytes);
      expect(json).toEqual(jsonPageOf(raw.events, raw.last, raw.more));
    },
  );

  test('every text parses to the event as stored', async () => {
    const raw = (await h.store.readFeedRaw(0, 1000, 1 << 30)).events;
    const json = (await h.store.readFeedJson(0, 1000, 1 << 30)).events;
    expect(json).toHaveLength(40);
    json.forEach((e, i) => {
      const r = raw[i]!;
      expect(JSON.parse(e.json)).toEqual({
        position: r.position,
        streamId: r.streamId,
        version: r.version,
        type: r.type,
        schemaVersion: r.schemaVersion,
        data: JSON.parse(r.dataText),
        metadata: JSON.parse(r.metadataText),
        hash: r.hash,
      });
      expect(e.json).toBe(eventJsonText(r));
    });
  });
});
