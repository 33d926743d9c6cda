// One admin connection per server, and only while provisioning (issue 15, Bounds): a gateway
// starting 50 apps queues their provisioning on one connection instead of opening 50, and the
// connection closes as soon as the queue is empty, so an idle gateway holds none.

export interface AdminConnection {
  close(): Promise<void>;
}

interface Session<C extends AdminConnection> {
  connection: Promise<C>;
  /** The tail of the queue: each job starts when the one before it has settled. */
  tail: Promise<unknown>;
  pending: number;
}

const sessions = new Map<string, Session<AdminConnection>>();

/**
 * Runs `job` on the admin connection to the server `key`, opening it with `open` when none is
 * open; jobs on one server run one at a time, in order. A failed open fails the jobs queued on
 * it and leaves nothing behind, so the next start tries again.
 */
export function withAdminConnection<C extends AdminConnection, T>(key: string, open: () => Promise<C>, job: (connection: C) => Promise<T>): Promise<T> {
  let session = sessions.get(key) as Session<C> | undefined;
  if (!session) {
    const connection = open();
    connection.catch(() => {}); // seen by each job below; not an unhandled rejection meanwhile
    session = { connection, tail: Promise.resolve(), pending: 0 };
    sessions.set(key, session as Session<AdminConnection>);
  }
  const own = session;
  own.pending += 1;
  const run = own.tail.then(async () => job(await own.connection));
  own.tail = run.catch(() => {}).then(async () => {
    own.pending -= 1;
    if (own.pending > 0) return;
    sessions.delete(key);
    const connection = await own.connection.catch(() => null);
    await connection?.close().catch(() => {});
  });
  return run;
}

/** How many admin connections are open or opening now (for the bench and tests). */
export function openAdminSessions(): number {
  return sessions.size;
}
