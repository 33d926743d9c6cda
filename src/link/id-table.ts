// The requests in flight on a link, by id: ids handed out in rising order, each held for
// one request's life. A slot per id's low bits, in arrays that only grow: the per-request
// churn writes slots in place and allocates nothing.
//
// Why not a Map: V8 rebuilds a Map's hash table every few dozen set/delete pairs, and the table
// it replaces keeps a pointer to its successor and its old entries. Once one replaced table has
// reached the old generation (a lull, a burst of allocation such as 10,000 connections opening),
// each successor is reachable from it at every young collection, and the next, and so on until
// a full collection: every request's objects were promoted, and scavenges went from 0.5 to
// 5-6 ms (docs/performance.md, "Idle connections and the young generation").

const FIRST_CAPACITY = 64;

export class IdTable<T> {
  private ids = new Uint32Array(FIRST_CAPACITY);
  private slots: Array<T | undefined> = new Array<T | undefined>(FIRST_CAPACITY).fill(undefined);
  private mask = FIRST_CAPACITY - 1;
  size = 0;

  get(id: number): T | undefined {
    const i = id & this.mask;
    return this.ids[i] === id ? this.slots[i] : undefined;
  }

  /** `id` (never 0) can be set: no id in the table shares its slot. */
  canTake(id: number): boolean {
    return this.ids[id & this.mask] === 0;
  }

  /** Holds `value` under `id`, which canTake(id) said was free. */
  set(id: number, value: T): void {
    // Half full at most, so that a free slot is near wherever the ids have reached.
    if (this.size * 2 >= this.ids.length) this.grow();
    const i = id & this.mask;
    if (this.ids[i] !== 0) throw new Error(`id ${id} taken: its slot holds ${this.ids[i]}`);
    this.ids[i] = id;
    this.slots[i] = value;
    this.size++;
  }

  delete(id: number): boolean {
    const i = id & this.mask;
    if (this.ids[i] !== id) return false;
    this.ids[i] = 0;
    this.slots[i] = undefined;
    this.size--;
    return true;
  }

  /**
   * What the table holds, oldest first, for ids handed out rising (wrapping past 0xffffffff to
   * 1), `next` the one to be handed out next: the slots' order is not the ids' once they wrap
   * around the table, and the link's callers count requests in the order the worker got them.
   */
  list(next: number): T[] {
    const held: number[] = [];
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== 0) held.push(i);
    // How far behind `next` an id is, modulo 2^32: the larger, the older.
    held.sort((a, b) => ((next - this.ids[b]) >>> 0) - ((next - this.ids[a]) >>> 0));
    return held.map((i) => this.slots[i] as T);
  }

  clear(): void {
    this.ids.fill(0);
    this.slots.fill(undefined);
    this.size = 0;
  }

  // Ids that were apart under the old mask stay apart under the wider one (it keeps the old
  // bits), so nothing collides on the way, and a slot that was free stays free.
  private grow(): void {
    const { ids, slots } = this;
    const capacity = ids.length * 2;
    this.ids = new Uint32Array(capacity);
    this.slots = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === 0) continue;
      const j = ids[i] & this.mask;
      this.ids[j] = ids[i];
      this.slots[j] = slots[i];
    }
  }
}
