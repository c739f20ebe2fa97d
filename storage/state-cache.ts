/** A small LRU map: the repository's per-stream "current state + version" cache. */
export class LruCache<V> {
  private readonly map = new Map<string, V>();

  constructor(
    private readonly capacity: number,
    /** An entry that must not be evicted now (it has appends in flight). */
    private readonly pinned: (v: V) => boolean = () => false,
  ) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, v: V): void {
    this.map.delete(key);
    this.map.set(key, v);
    if (this.map.size <= this.capacity) return;
    for (const [k, old] of this.map) {
      if (this.map.size <= this.capacity) break;
      if (!this.pinned(old)) this.map.delete(k);
    }
  }

  /** Deletes `key` only if it still maps to `v` (a newer entry is left alone). */
  deleteIf(key: string, v: V): void {
    if (this.map.get(key) === v) this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
