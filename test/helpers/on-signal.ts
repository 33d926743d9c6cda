// A file run by hand with uvu that is stopped (^C, a `timeout` around a loop) dies by the signal
// before its last hook, and Node runs no 'exit' listener then: what the hooks or an exit listener
// would have removed or stopped (tempDir's directories, a PostgreSQL or Redis server and its
// directory, the process's own shared cache and shared install) was left behind. So at SIGINT,
// SIGTERM or SIGHUP the cleanups registered here run, the last registered first (a server is
// stopped before the directory made for it goes; each synchronous, each on its own: one that
// throws does not keep the others from running), and the signal is raised again to end the
// process as it would have. (SIGKILL cannot be caught: `npm test` clears each test process's
// TMPDIR once it has ended, scripts/test-tmp.mjs.)
const cleanups = new Set<() => void>();
let hooked = false;

/** Runs `cleanup` if a signal ends this process first; the function returned forgets it (its own end came). */
export function atSignal(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  if (!hooked) {
    hooked = true;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        for (const each of [...cleanups].reverse()) {
          try {
            each();
          } catch {
            // the next one still runs
          }
        }
        process.kill(process.pid, signal);
      });
    }
  }
  return () => cleanups.delete(cleanup);
}
