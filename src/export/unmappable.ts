// What in an app cannot be said on a cluster: the image holds the app directory and Debian's
// packages, nothing else of the host. Each problem names the key (at its line in app.yaml) and
// what to change; an app with any is not exported (issue 18: "the rest is written"). Files
// outside the package (paths:, pip:, static: with "..") are refused by the loader already.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { satisfies } from '@renovatebot/pep440';
import { placeOf } from '../description/key-place.js';
import type { Description } from '../description/types.js';
import { keyLabel, type YamlPath } from '../description/yaml-file.js';
import { GatewayError } from '../errors.js';
import type { AppPlan } from './app-plan.js';
import { pathWords } from './command-words.js';
import { DEBIAN_NAME, DEBIAN_PYTHON } from './image-layout.js';

/**
 * Absolute paths a command may name in the image: Debian's own directories. Anything else
 * (/opt, /usr/local, /home, /srv, /var/...) is the host's and is not in the image.
 */
const IMAGE_PATHS = ['/bin/', '/sbin/', '/usr/bin/', '/usr/sbin/', '/usr/lib/', '/usr/share/', '/dev/', '/proc/', '/tmp/'];
const IMAGE_FILES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/tmp']);

/**
 * The top directories of a Linux file system (the FHS's). An absolute word under none of them,
 * and not on this host either, is no file: a URL path given as an argument (`--root-path /api`,
 * `--prefix /live`), which the image needs no more than the host.
 */
const FILE_SYSTEM_TOPS = new Set(['bin', 'boot', 'dev', 'etc', 'home', 'lib', 'lib32', 'lib64', 'libx32', 'media', 'mnt', 'opt', 'proc', 'root', 'run', 'sbin', 'srv', 'sys', 'tmp', 'usr', 'var']);

function isFileSystemPath(found: string): boolean {
  const top = found.split('/')[1];
  return FILE_SYSTEM_TOPS.has(top) || existsSync(`/${top}`);
}

/**
 * The first absolute path in a shell command that the image does not have, or null. The app's
 * own directory counts as the host's wherever it lies: in the image it is somewhere else. The
 * code of `python -c` is not looked in: a string in it is Python's (pathWords).
 */
export function hostPathIn(command: string, appDir: string): string | null {
  for (const word of pathWords(command)) {
    // An absolute path starts a word, or follows `=`, `:` or a space (`--config=/etc/x`, PATH=/opt/bin:..., `sh -c` words).
    for (const match of word.matchAll(/(?:^|[\s=:(<>|;&])(\/[^\s'"();|&<>:]*)/g)) {
      const found = match[1];
      if (found === appDir || found.startsWith(`${appDir}/`)) return found;
      // `//` is a URL's authority (redis://host/0), not a path.
      if (found === '/' || found.startsWith('//') || IMAGE_FILES.has(found)) continue;
      if (!IMAGE_PATHS.some((prefix) => found.startsWith(prefix)) && isFileSystemPath(found)) return found;
    }
  }
  return null;
}

/** Every key of `desc` that the export cannot map, each a GatewayError (APPPKG_EXPORT_UNMAPPABLE). */
export function unmappableKeys(desc: Description): GatewayError[] {
  const problems: GatewayError[] = [];
  const problem = (at: YamlPath, reason: string, fix: string) => {
    // At the key itself (processes.ws.command), not its parent: a second process has its own line.
    const place = placeOf(desc, at);
    problems.push(new GatewayError('APPPKG_EXPORT_UNMAPPABLE', { file: desc.file, line: place?.line, column: place?.column, key: keyLabel(at), reason, fix, app: desc.name }));
  };

  // What runs on the cluster: every process, and the hooks the Job runs before a rollout.
  const commands: Array<[YamlPath, string]> = [
    ...Object.entries(desc.processes).map(([name, spec]): [YamlPath, string] => [['processes', name, 'command'], spec.command]),
    ...(['install', 'update'] as const).flatMap((hook): Array<[YamlPath, string]> => (desc.commands[hook] ? [[['commands', hook], desc.commands[hook]!]] : [])),
  ];
  for (const [at, command] of commands) {
    const found = hostPathIn(command, desc.dir);
    if (found === null) continue;
    const own = found === desc.dir || found.startsWith(desc.dir + path.sep);
    problem(
      at,
      `expected a command that runs inside the image, found the ${own ? "app directory's host path" : 'host path'} ${JSON.stringify(found)}`,
      own
        ? `name it relative to the app directory (${JSON.stringify(path.relative(desc.dir, found) || '.')}): commands run there, on the host and in the image alike`
        : 'ship the program in the app directory and name it relative to it (commands run there), or install it with deb:; use $APPPKG_DATA_DIR for data',
    );
  }
  if (desc.python !== null && !satisfies(DEBIAN_PYTHON, desc.python)) {
    problem(['python'], `expected a specifier that ${DEBIAN_NAME}'s python3 ${DEBIAN_PYTHON} satisfies, found ${JSON.stringify(desc.python)}`, `widen it to take Python ${DEBIAN_PYTHON.split('.').slice(0, 2).join('.')} (e.g. python: ">=3.9"), or build the image from a base that has the Python it asks for`);
  }
  if (desc.rpm.length > 0 && desc.deb.length === 0) {
    problem(['rpm'], `expected deb: packages for the Debian image, found only rpm: ${desc.rpm.join(' ')}`, 'add the Debian names of the same packages under deb: (e.g. rpm: python3-m2crypto -> deb: python3-m2crypto)');
  }
  if (desc.os.length > 0 && !desc.os.some((os) => os === 'posix' || os === 'linux')) {
    problem(['os'], `expected posix or linux (the image is Linux), found ${desc.os.join(', ')}`, 'add linux to os: if the app runs there');
  }
  return problems;
}

/**
 * A character a URL's path carries percent-encoded (RFC 3986 3.3: not unreserved, a sub-delim,
 * `:`, `@` or `/`): a space, anything past ASCII. The API server takes it in an Ingress path,
 * but whether a request matches it is the controller's: ingress-nginx compares the decoded path
 * (and refuses it under its strict path validation), Envoy's the path as sent, percent-encoded.
 * The gateway matches the decoded path, so neither form written here routes on every cluster.
 */
const PERCENT_ENCODED = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/u;

/** Each run of what PERCENT_ENCODED finds. */
const PERCENT_ENCODED_RUNS = new RegExp(`${PERCENT_ENCODED.source}+`, 'gu');

/** `value` with what PERCENT_ENCODED finds made ASCII: accents dropped, the rest `-` (`/café bar` -> `/cafe-bar`). */
function asciiPath(value: string): string {
  return value.normalize('NFKD').replace(/\p{M}+/gu, '').replace(PERCENT_ENCODED_RUNS, '-');
}

/** The mount (from the environment file) and each process's route that no Ingress can carry. */
export function unmappablePaths(plan: AppPlan, environmentFile: string | undefined): GatewayError[] {
  const problems: GatewayError[] = [];
  // What the API server refuses in an Ingress path (`//`, dot segments, `%2F`) the loaders of
  // app.yaml and the environment file refuse already: routing would never match it either.
  const refused = (value: string) => PERCENT_ENCODED.exec(value)?.[0] ?? null;
  const reason = (value: string, bad: string) =>
    `expected a path an Ingress can carry, found ${JSON.stringify(value)}: ${JSON.stringify(bad)} is percent-encoded in a URL, and ingress controllers differ on such a path (ingress-nginx matches it decoded, Envoy-based ones percent-encoded, and ingress-nginx's strict path validation refuses it)`;
  const fixFor = (key: 'mount' | 'route', value: string, where: string) =>
    `write the ${key} in ASCII letters, digits and - . _ ~ / (e.g. ${key}: ${asciiPath(value)})${where}`;
  const { desc } = plan;
  const badMount = refused(plan.mount);
  if (badMount !== null) {
    problems.push(new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
      file: environmentFile, key: keyLabel(['apps', desc.name, 'mount']), app: desc.name, reason: reason(plan.mount, badMount),
      fix: fixFor('mount', plan.mount, ' in the environment file'),
    }));
  }
  for (const { process, route } of plan.routes) {
    const bad = refused(route);
    if (bad === null) continue;
    const at: YamlPath = ['processes', process, 'route'];
    const place = placeOf(desc, at);
    problems.push(new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
      file: desc.file, line: place?.line, column: place?.column, key: keyLabel(at), app: desc.name, reason: reason(route, bad),
      fix: fixFor('route', route, ''),
    }));
  }
  return problems;
}
