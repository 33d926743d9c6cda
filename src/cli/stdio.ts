// What a failed write of the CLI's own stdout or stderr does. A one-shot command (`check | head
// -1`) drops what its reader left before it could read: the command's outcome is its exit status,
// not a crash on the write (EPIPE, then every later write to the destroyed stream); any other
// failure (ENOSPC of `describe > file`) still ends it, so that its status says the output is not
// whole. The gateway and serve never end for it: their lines are lost (a log pipe whose program
// ended, a terminal closed: EIO, `2>>file` on a full disk), as nginx's and gunicorn's are, and
// the apps go on being served.
let serving = false;

function onWriteError(err: NodeJS.ErrnoException): void {
  if (serving || err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
  throw err;
}

/** Installed once, before any command runs. */
export function watchStdio(): void {
  process.stdout.on('error', onWriteError);
  process.stderr.on('error', onWriteError);
}

/** From here on (a long-running command), no failed write of stdout or stderr ends the process. */
export function outliveStdio(): void {
  serving = true;
}
