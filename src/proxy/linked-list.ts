// An ordered list linked through its members' own fields, for what joins and leaves once per
// request (the requests in flight, the lean lane's waiting connections): an add and a delete per
// request churn a Set's hash table, which V8 rebuilds every few dozen pairs (link/id-table.ts says
// what that costs the young generation). A member is in one list at most.

/** The fields a member carries for the list it is in. */
export interface Linked<T> {
  listedIn: object | null;
  listPrev: T | null;
  listNext: T | null;
}

export class LinkedList<T extends Linked<T>> {
  size = 0;
  /** The oldest member: iterate with `listNext`. */
  first: T | null = null;
  private last: T | null = null;

  has(member: T): boolean {
    return member.listedIn === this;
  }

  /** At the end; `member` must be in no list. */
  add(member: T): void {
    member.listedIn = this;
    member.listPrev = this.last;
    member.listNext = null;
    if (this.last === null) this.first = member;
    else this.last.listNext = member;
    this.last = member;
    this.size++;
  }

  /** Out of this list; nothing when it is not in it. */
  delete(member: T): void {
    if (member.listedIn !== this) return;
    const { listPrev: prev, listNext: next } = member;
    if (prev === null) this.first = next;
    else prev.listNext = next;
    if (next === null) this.last = prev;
    else next.listPrev = prev;
    member.listedIn = member.listPrev = member.listNext = null;
    this.size--;
  }
}
