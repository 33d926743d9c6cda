// The services of an app woken from its idle sleep (SPEC 5.6). Its start made its PostgreSQL
// role and database, but one dropped by hand while it slept (a clean-up, a restore gone wrong)
// was made again only at the app's next full start: the woken app failed on every request
// meanwhile. So a wake asks the server once whether both are there, and when not makes them
// again as a start does (empty), saying so: the data that was in them is the backup's to bring.
import { CLI_COMMAND_WORDS } from '../command-words.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { serviceEnvironment, withoutGivenServices } from './app-services.js';
import { appDatabaseName, appDatabasePresent, parsePostgresUrl } from './postgresql-server.js';
import { planServices } from './service-plan.js';

export interface WakeServicesOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  say: (line: string) => void;
  /** What the warning calls loading a backup: the CLI's `apppkg-gateway restore` (the default) or the library's runCommand('restore'). */
  restoreWords?: string;
}

/**
 * Before a woken app's processes start: its PostgreSQL role and database made again when gone.
 * A server that does not answer is no reason to keep the app asleep (postgresql-watch.ts says
 * it, as while the app ran); a database that cannot be made again is thrown, and the wake fails
 * with it, as the start would have.
 */
export async function ensureServicesAtWake(opts: WakeServicesOptions): Promise<void> {
  let url: string | null;
  try {
    const plan = planServices(withoutGivenServices(opts.desc, opts.hostEnv), opts.hostEnv);
    url = plan.database === 'postgresql' ? plan.postgresqlUrl : null;
  } catch {
    return; // refused at its start, then: it would not be asleep
  }
  if (!url) return;
  const server = parsePostgresUrl(url);
  const name = appDatabaseName(opts.desc.name);
  let present: boolean;
  try {
    present = await appDatabasePresent(server, name);
  } catch {
    return;
  }
  if (present) return;
  opts.say(`${opts.desc.name}: WARNING: its postgresql role or database ${name} on ${server.label} was gone as it woke (dropped while it slept); ` +
    `making them again, empty, as its start does: bring back what they held with ${opts.restoreWords ?? CLI_COMMAND_WORDS.restore} from a backup`);
  await serviceEnvironment({ desc: opts.desc, hostEnv: opts.hostEnv, stateRoot: opts.stateRoot, provision: true, say: opts.say });
}
