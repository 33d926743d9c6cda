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

/**
 * After a typed ^C has ended a command that handles SIGINT itself (`status --watch`, `logs -f`,
 * exit 0): the terminal echoed `^C` where the cursor was, and the shell prints its prompt right
 * after it (`^C$ `), as it does not for a command that died of the signal (`tail -f`, after which
 * it starts a line itself). The end of that line, to whichever of stdout or stderr is the terminal.
 */
export function endLineAfterInterrupt(): void {
  const terminal = process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : null;
  terminal?.write('\n');
}
