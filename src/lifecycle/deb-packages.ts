// The `deb` packages of an app on a Debian host: which are missing (dpkg-query.ts, the
// question `check` asks) and, for `install --system`, apt-get install of exactly those.
import type { Writable } from 'node:stream';
import { missingDetails } from '../environment/checks.js';
import { queryDeb } from '../environment/dpkg-query.js';
import { GatewayError } from '../errors.js';
import { quiet, seconds, type Say } from './progress.js';
import { runProgram } from './run-command.js';

/**
 * Without `system`, missing packages are an APPPKG_DEB_MISSING (its fix: apt-get or --system);
 * with it (root checked by the caller), `apt-get install -y` of the missing ones, output streamed.
 */
export async function ensureDebPackages(packages: string[], opts: { system: boolean; say?: Say; output?: Writable }): Promise<void> {
  const say = opts.say ?? quiet;
  if (packages.length === 0) return;
  const answer = await queryDeb(packages);
  if (answer === null) {
    say(`==> deb: not checked, no dpkg-query here (not a Debian host); listed: ${packages.join(', ')}`);
    return;
  }
  if ('unanswered' in answer) {
    say(`==> deb: not checked, ${answer.unanswered}; listed: ${packages.join(', ')}`);
    return;
  }
  const { missing } = answer;
  if (missing.length === 0) {
    say(`==> deb: ${packages.join(', ')} already installed`);
    return;
  }
  if (!opts.system) throw new GatewayError('APPPKG_DEB_MISSING', { key: 'deb', ...(await missingDetails(missing)) });
  say(`==> apt-get install -y ${missing.join(' ')}`);
  const started = performance.now();
  const status = await runProgram({
    file: 'apt-get',
    args: ['install', '-y', ...missing],
    cwd: '/',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    output: opts.output,
  });
  if (status !== 0) throw new GatewayError('APPPKG_APT_FAILED', { packages: missing.join(' '), status });
  say(`==> deb packages installed in ${seconds(started)}: ${missing.join(', ')}`);
}
