// The durable spool (SPEC 5.3: "accepted (250) only once it is on disk under the state root";
// "a gateway restart loses no accepted message"). Under STATE/mail/:
//
//   tmp/                 a message while it streams in (never read; emptied at start)
//   messages/ID.eml      each accepted message, once, however many apps it goes to
//   queue/DID.json       one delivery per app (DID is its X-Apppkg-Delivery-Id): the envelope,
//                        the attempts so far and when the next is due
//   dead/DID.json, .eml  a delivery given up (406, or give_up passed), or kept at once (postmaster
//                        mail no app takes), with its message
//
// `mail retry` moves a dead letter back into queue/ (requeue()): the message linked back into
// messages/, the queue's record written and synced, and only then the dead letter removed. A
// crash between the two leaves both records: the queue's wins at the next start. `mail delete`
// removes a dead letter's record first, then its message (deleteDead()): a crash between the two
// leaves a message no record names, removed at the next start.
//
// Accepting writes the message and its deliveries, fsyncs each file and the directories that
// name them, and only then resolves: the 250 comes after. A message file that no delivery names
// (a crash between the two) was never acknowledged, and is removed at the next start.
import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** One app's share of one message: what is POSTed, and how the attempts went. */
export interface SpooledDelivery {
  /** X-Apppkg-Delivery-Id: the same for every attempt, so the app can drop a repeat. */
  id: string;
  /** The file under messages/ (without .eml). */
  messageId: string;
  app: string;
  /** The envelope sender (MAIL FROM); '' for the null reverse-path <>. */
  from: string;
  /** The envelope recipients of this app. */
  to: string[];
  /** ms since the epoch. */
  receivedAt: number;
  /**
   * Bytes of the message as received (what its POST carries), a record of the receipt read by
   * nothing that delivers; in the records of a gateway older than X-Apppkg-Received, the
   * Received: field the file begins with included. An attempt sends the file as it is then,
   * after that field, signed and streamed from one descriptor (mail-deliverer.ts), whose length
   * a message put back by hand changes.
   */
  size: number;
  attempts: number;
  /** ms since the epoch. */
  nextAttemptAt: number;
  /** Why the last attempt failed. */
  lastError: string | null;
  /**
   * ms since the epoch: when that attempt failed, for `status`; absent before any has, and in
   * the records of a gateway older than this field.
   */
  lastErrorAt?: number;
  /**
   * ms since the epoch: when `mail retry` put it back from the dead letters, for a fresh
   * schedule: give_up counts from it, not from `receivedAt` (days ago, which would give it up at
   * its first failed attempt). Absent for a delivery never retried so.
   */
  retriedAt?: number;
  /**
   * Set when no app is to be tried (postmaster mail that no app takes; `app` is ''): why. Such a
   * delivery is spooled as any other before the 250, then made a dead letter at once.
   */
  keep?: string;
}

export interface DeadLetter extends SpooledDelivery {
  /** ms since the epoch. */
  deadAt: number;
  reason: string;
  /**
   * The message, kept: STATE/mail/dead/DID.eml; null when its message file was gone from the
   * spool (removed by hand, lost by a restore): the record is kept all the same.
   */
  file: string | null;
}

export interface AcceptedMessage {
  messageId: string;
  size: number;
  deliveries: SpooledDelivery[];
}

/** A message's id in the spool: its file's name, the one its 250 and its Received: field name. */
export function newMessageId(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** What accept() is told of a message besides its bytes. */
export interface SpoolEnvelope {
  from: string;
  /** app -> its recipients */
  recipients: Map<string, string[]>;
  /** Postmaster mail no app takes, to be kept as a dead letter. */
  kept: { to: string[]; reason: string } | null;
  /** The Received: field the file begins with (mail-trace.ts), made with the message's id. */
  header: (messageId: string) => string;
  /** app -> the largest message (the POST's body) it takes */
  maxBody?: Map<string, number>;
  /** Not kept at all when one app cannot take it (SMTP: one reply for every recipient). */
  whole?: boolean;
}

/**
 * What accept() does with the stream: whether the message fit within maxSize, and the apps left
 * out because it was past their own limit (`maxBody`).
 */
export type AcceptResult = { ok: true; message: AcceptedMessage; tooBigFor: string[] } | { ok: false; reason: 'too-big'; bytes: number };

/**
 * The delivery records an earlier run left in STATE/mail/queue/, without opening the spool: for
 * a gateway started with no mail listener, which tries none of them.
 */
export async function queuedDeliveryCount(stateRoot: string): Promise<{ count: number; dir: string }> {
  const dir = join(stateRoot, 'mail', 'queue');
  const names = await readdir(dir).catch(() => [] as string[]);
  return { count: names.filter((name) => name.endsWith('.json')).length, dir };
}

/** Write the message in blocks of this size: SMTP data arrives in small chunks. */
const WRITE_BLOCK = 64 * 1024;

export class MailSpool {
  readonly dir: string;
  private readonly queued = new Map<string, SpooledDelivery>();
  private readonly dead = new Map<string, DeadLetter>();
  /** messageId -> deliveries still queued that need it. */
  private readonly references = new Map<string, number>();

  constructor(stateRoot: string) {
    this.dir = join(stateRoot, 'mail');
  }

  private path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Creates the directories, reads what an earlier run left (queue and dead letters). */
  async open(say: (line: string) => void = () => {}): Promise<void> {
    for (const sub of ['tmp', 'messages', 'queue', 'dead']) await mkdir(this.path(sub), { recursive: true, mode: 0o700 });
    await rm(this.path('tmp'), { recursive: true, force: true });
    await mkdir(this.path('tmp'), { mode: 0o700 });
    for (const name of await readdir(this.path('queue'))) {
      if (!name.endsWith('.json')) continue;
      const delivery = await readJson<SpooledDelivery>(this.path('queue', name));
      if (delivery === null) {
        say(`mail: ${this.path('queue', name)} is not a delivery record; left where it is`);
        continue;
      }
      this.queued.set(delivery.id, delivery);
      this.references.set(delivery.messageId, (this.references.get(delivery.messageId) ?? 0) + 1);
    }
    for (const name of await readdir(this.path('messages'))) {
      if (name.endsWith('.eml') && !this.references.has(name.slice(0, -4))) await rm(this.path('messages', name), { force: true });
    }
    const deadNames = await readdir(this.path('dead'));
    for (const name of deadNames) {
      // A delete cut short (deleteDead()) or a burial (bury(): its message is linked first, and
      // the queue's record it came from is still there): a message no dead record names.
      if (name.endsWith('.eml') && !deadNames.includes(`${name.slice(0, -4)}.json`)) await rm(this.path('dead', name), { force: true });
    }
    for (const name of deadNames) {
      if (!name.endsWith('.json')) continue;
      const letter = await readJson<DeadLetter>(this.path('dead', name));
      if (letter === null) continue;
      // A retry cut short after its queue record was written (requeue()): it is queued, and
      // listed as a dead letter as well it would be retried twice and counted twice.
      if (this.queued.has(letter.id)) {
        await this.forgetDead(letter.id);
        continue;
      }
      this.dead.set(letter.id, letter);
    }
  }

  /** Bytes the spool's file system has free for it (not root's reserve); Infinity when it cannot say. */
  async room(): Promise<number> {
    try {
      const fs = await statfs(this.dir);
      return fs.bavail * fs.bsize;
    } catch {
      return Infinity;
    }
  }

  /** Deliveries waiting (for their first attempt or a retry), oldest first. */
  pending(): SpooledDelivery[] {
    return [...this.queued.values()].sort((a, b) => a.receivedAt - b.receivedAt);
  }

  deadLetters(): DeadLetter[] {
    return [...this.dead.values()].sort((a, b) => a.deadAt - b.deadAt);
  }

  /**
   * Streams `data` to disk (never whole in memory), `header` first (the Received: field, made
   * with the message's id: the one the 250 names, so that it traces the message), and
   * spools one delivery per app of `recipients`, but for an app whose `maxBody` the message
   * passes (its size is known only at its end: LMTP refuses that app's recipients alone). A
   * message past `maxSize`, or that no delivery is left for, is read to its end (the client is
   * still sending it) but not kept. Resolves once everything is synced; rejects (the listener's
   * 451) with nothing of the message left in tmp/, messages/ or queue/.
   */
  async accept(data: Readable, envelope: SpoolEnvelope, maxSize: number): Promise<AcceptResult> {
    const messageId = newMessageId();
    const tmp = this.path('tmp', `${messageId}.eml`);
    const message = this.path('messages', `${messageId}.eml`);
    const records: string[] = [];
    const header = envelope.header(messageId);
    const file = await open(tmp, 'wx', 0o600);
    let closed = false;
    try {
      const { bytes, tooBig } = await receiveInto(file, data, header, maxSize);
      closed = true;
      await file.close();
      // An app's delivery is a POST of the message alone (the Received: field goes in a header
      // of it): its max_body bounds the message.
      const size = bytes;
      const tooBigFor = [...envelope.recipients.keys()].filter((app) => size > (envelope.maxBody?.get(app) ?? Infinity));
      const refusedWhole = tooBigFor.length === envelope.recipients.size && envelope.kept === null;
      if (tooBig || refusedWhole || (envelope.whole === true && tooBigFor.length > 0)) {
        await rm(tmp, { force: true });
        return { ok: false, reason: 'too-big', bytes };
      }
      await rename(tmp, message);
      await syncDir(this.path('messages'));
      const now = Date.now();
      const deliveries: SpooledDelivery[] = [...envelope.recipients].filter(([app]) => !tooBigFor.includes(app)).map(([app, to]) => ({
        id: randomUUID(), messageId, app, from: envelope.from, to, receivedAt: now, size, attempts: 0, nextAttemptAt: now, lastError: null,
      }));
      if (envelope.kept !== null) {
        deliveries.push({
          id: randomUUID(), messageId, app: '', from: envelope.from, to: envelope.kept.to, receivedAt: now, size, attempts: 0, nextAttemptAt: now, lastError: null, keep: envelope.kept.reason,
        });
      }
      for (const delivery of deliveries) {
        const record = this.path('queue', `${delivery.id}.json`);
        records.push(record);
        await this.writeRecord(record, delivery, true);
      }
      await syncDir(this.path('queue'));
      for (const delivery of deliveries) this.queued.set(delivery.id, delivery);
      this.references.set(messageId, deliveries.length);
      return { ok: true, message: { messageId, size, deliveries }, tooBigFor };
    } catch (err) {
      // The client went away mid-message (smtp-server destroys the stream), the disk failed, or
      // a directory of the spool is gone: nothing was acknowledged (the sender gets 451 and
      // sends it again), so nothing of it is kept, wherever it had got to. A delivery record
      // left in queue/ would deliver a message the sender also sends again.
      if (!closed) await file.close().catch(() => {});
      for (const path of [tmp, message, ...records]) await rm(path, { force: true }).catch(() => {});
      throw err;
    }
  }

  /** The record of a dead letter, STATE/mail/dead/DID.json: all that is kept of one whose message file was gone. */
  deadRecord(letter: Pick<DeadLetter, 'id'>): string {
    return this.path('dead', `${letter.id}.json`);
  }

  /** A dead letter's message, STATE/mail/dead/DID.eml (`file` in its record, unless it was gone). */
  deadMessageFile(letter: Pick<DeadLetter, 'id'>): string {
    return this.path('dead', `${letter.id}.eml`);
  }

  /** The message file a delivery POSTs. */
  messageFile(delivery: SpooledDelivery): string {
    return this.path('messages', `${delivery.messageId}.eml`);
  }

  /** The app answered 2xx: the delivery is forgotten, and its message once no other app needs it. */
  async delivered(delivery: SpooledDelivery): Promise<void> {
    await rm(this.path('queue', `${delivery.id}.json`), { force: true });
    await this.release(delivery);
  }

  /** An attempt failed and another is due at `at`: recorded, so that a restart keeps the schedule. */
  async retryAt(delivery: SpooledDelivery, at: number, error: string): Promise<void> {
    delivery.attempts++;
    delivery.nextAttemptAt = at;
    delivery.lastError = error;
    delivery.lastErrorAt = Date.now();
    // Not synced: losing an attempt count to a crash only means one attempt more.
    await this.writeRecord(this.path('queue', `${delivery.id}.json`), delivery, false);
  }

  /**
   * Given up (406, or past give_up): kept in dead/ with its message, listed in status. One whose
   * message file is gone is buried without it: else it could be neither delivered nor given up,
   * and was tried for ever.
   */
  async bury(delivery: SpooledDelivery, reason: string, attempted: boolean): Promise<DeadLetter> {
    if (attempted) delivery.attempts++;
    let file: string | null = this.deadMessageFile(delivery);
    await rm(file, { force: true });
    try {
      await link(this.messageFile(delivery), file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      file = null;
    }
    const letter: DeadLetter = { ...delivery, lastError: reason, deadAt: Date.now(), reason, file };
    await this.writeRecord(this.deadRecord(delivery), letter, true);
    await syncDir(this.path('dead'));
    this.dead.set(letter.id, letter);
    await rm(this.path('queue', `${delivery.id}.json`), { force: true });
    await this.release(delivery);
    return letter;
  }

  /**
   * A dead letter back in the queue (`mail retry`), with its delivery id, envelope and message,
   * due now, its attempts counted anew and give_up from now. Written in the order that leaves
   * the spool whole at any crash: the message linked back into messages/ (unreferenced, it is
   * removed at the next start), the queue's record synced, then the dead letter removed (both
   * records there: open() keeps the queue's). Rejects with ENOENT when dead/DID.eml is gone.
   * `app`: whom it goes to, its own app unless it is postmaster mail no app took (app '').
   */
  async requeue(letter: DeadLetter, app = letter.app): Promise<SpooledDelivery> {
    // Taken out first: a second retry of the same id meanwhile finds no dead letter.
    if (this.dead.get(letter.id) !== letter) throw Object.assign(new Error(`${letter.id} is no dead letter now`), { code: 'ENOENT' });
    this.dead.delete(letter.id);
    const { deadAt: _deadAt, reason: _reason, file: _file, lastErrorAt: _lastErrorAt, keep: _keep, ...kept } = letter;
    const now = Date.now();
    const delivery: SpooledDelivery = { ...kept, app, attempts: 0, nextAttemptAt: now, lastError: null, retriedAt: now };
    try {
      if (!this.references.has(delivery.messageId)) {
        try {
          await link(this.deadMessageFile(letter), this.messageFile(delivery));
        } catch (err) {
          // Left by a retry of it that failed further on (a full disk): the same file, linked.
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        await syncDir(this.path('messages'));
      }
      await this.writeRecord(this.path('queue', `${delivery.id}.json`), delivery, true);
      await syncDir(this.path('queue'));
    } catch (err) {
      this.dead.set(letter.id, letter);
      throw err;
    }
    this.queued.set(delivery.id, delivery);
    this.references.set(delivery.messageId, (this.references.get(delivery.messageId) ?? 0) + 1);
    // Queued now, whatever comes: files left in dead/ are removed at the next start (open()).
    await this.forgetDead(letter.id).catch(() => {});
    return delivery;
  }

  /**
   * `mail delete`: the dead letter gone for good. Its record is removed first, synced: from then
   * on it is no dead letter, and a crash before its message is removed leaves a file no record
   * names, which open() removes. (Message first, a crash left a record whose file was gone:
   * listed, and `retry` refused it, as a letter whose message was lost.)
   */
  async deleteDead(letter: DeadLetter): Promise<void> {
    // Taken out first: a retry of the same id meanwhile finds no dead letter.
    if (this.dead.get(letter.id) !== letter) throw Object.assign(new Error(`${letter.id} is no dead letter now`), { code: 'ENOENT' });
    this.dead.delete(letter.id);
    try {
      await rm(this.deadRecord(letter), { force: true });
      await syncDir(this.path('dead'));
    } catch (err) {
      this.dead.set(letter.id, letter);
      throw err;
    }
    // Deleted already: a message left by a failure here is removed at the next start.
    await rm(this.deadMessageFile(letter), { force: true }).then(() => syncDir(this.path('dead'))).catch(() => {});
  }

  /** Removes a dead letter's files: its message first, so that no message outlives its record. */
  private async forgetDead(id: string): Promise<void> {
    await rm(this.deadMessageFile({ id }), { force: true });
    await rm(this.deadRecord({ id }), { force: true });
    await syncDir(this.path('dead'));
  }

  private async release(delivery: SpooledDelivery): Promise<void> {
    this.queued.delete(delivery.id);
    const left = (this.references.get(delivery.messageId) ?? 1) - 1;
    if (left > 0) {
      this.references.set(delivery.messageId, left);
      return;
    }
    this.references.delete(delivery.messageId);
    await rm(this.messageFile(delivery), { force: true });
  }

  /** Written aside and renamed over: a crash leaves the old record or the new, never half of one. */
  private async writeRecord(target: string, record: object, sync: boolean): Promise<void> {
    const tmp = this.path('tmp', `${randomBytes(8).toString('hex')}.json`);
    const file = await open(tmp, 'wx', 0o600);
    try {
      try {
        await file.writeFile(`${JSON.stringify(record, null, 2)}\n`);
        if (sync) await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, target);
    } catch (err) {
      // tmp/ is emptied only at start: a record that failed must not stay there until then.
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }
}

/**
 * `header`, then `data` as it streams, into `file`, synced; past `maxSize` the rest is read to
 * its end (the client is still sending it) but not written.
 */
async function receiveInto(file: FileHandle, data: Readable, header: string, maxSize: number): Promise<{ bytes: number; tooBig: boolean }> {
  let bytes = 0;
  let tooBig = false;
  // UTF-8: an SMTPUTF8 recipient in its `for <...>` clause is UTF-8 as the message is (RFC 6532).
  let block: Buffer[] = [Buffer.from(header, 'utf8')];
  let blockBytes = block[0].length;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    // smtp-server flags the stream past its `size`; our own count is the same rule, kept
    // so that the spool never depends on the listener's options.
    if (tooBig || bytes > maxSize || (data as { sizeExceeded?: boolean }).sizeExceeded) {
      tooBig = true;
      block = [];
      continue; // drained, not written: the client gets 552 once it has sent it all
    }
    block.push(chunk);
    blockBytes += chunk.length;
    if (blockBytes >= WRITE_BLOCK) {
      await writeAll(file, block);
      block = [];
      blockBytes = 0;
    }
  }
  if (!tooBig) {
    await writeAll(file, block);
    await file.sync();
  }
  return { bytes, tooBig };
}

async function writeAll(file: FileHandle, block: Buffer[]): Promise<void> {
  let data = block.length === 1 ? block[0] : Buffer.concat(block);
  // write(2) may write less than asked (a signal, a nearly full disk): go on from there.
  while (data.length > 0) {
    const { bytesWritten } = await file.write(data);
    data = data.subarray(bytesWritten);
  }
}

/** fsync a directory, so that the names just created in it survive a crash (rename(2) alone may not). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
