// The programs pip runs to make its user agent, recorded: vendor and install run pip offline,
// where that header is never sent, and must not have pip start them (a second of CPU a run).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A directory under `parent` of a `rustc` and an `lsb_release` that write their names into `ran`
 * (pip runs both for its user agent), to put first on the PATH. The rustc says a version of its
 * own, which a user agent made with it carries.
 */
export function recordingAgentPrograms(parent: string): { dir: string; ran: string } {
  const dir = join(parent, 'agent-programs');
  const ran = join(dir, 'ran.txt');
  mkdirSync(dir, { recursive: true });
  writeFileSync(ran, '');
  writeFileSync(join(dir, 'rustc'), `#!/bin/sh\necho rustc >> '${ran}'\necho 'rustc 9.9.9 (apppkg-test)'\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'lsb_release'), `#!/bin/sh\necho lsb_release >> '${ran}'\nexit 1\n`, { mode: 0o755 });
  return { dir, ran };
}
