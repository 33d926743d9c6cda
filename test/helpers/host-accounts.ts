// Users and groups a test makes on the host (as root: apps run as their own user). Made when
// missing and kept for the next test that names them; what its tests made, the suite run removes
// at its end, a test file run by hand at its process's exit (scripts/test-accounts.mjs).
import { spawnSync } from 'node:child_process';
import { recordMade } from '../../scripts/test-accounts.mjs';

/** The system user `name` (no home, no shell), made if missing; its uid and primary gid. */
export function hostUser(name: string): { uid: number; gid: number } {
  const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  if (made.status === 0) recordMade('user', name);
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The system group `name`, made if missing, with `members` (users) added to it. */
export function hostGroup(name: string, members: string[] = []): void {
  const made = spawnSync('groupadd', ['--system', name], { stdio: 'ignore' });
  if (made.status === 0) recordMade('group', name);
  for (const member of members) spawnSync('usermod', ['-a', '-G', name, member], { stdio: 'ignore' });
}
