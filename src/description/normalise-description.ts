// The meaning of app.yaml (SPEC §1.1) beyond its schema: what kind of app it is, which keys go
// together, paths that must stay inside the package, URL prefixes, and the default name from
// the directory; the result is the normalised Description.

import path from 'node:path';
import { validRange } from '@renovatebot/pep440';
import { closest } from '../closest.js';
import { appLine, moduleOfPath, pathAppFix } from './path-app-fix.js';
import { parsePackageDirName } from './package-dir.js';
import { missingSlashFix, pathPrefixFix } from './path-prefix-fix.js';
import { reservedSettingsRule } from './reserved-settings.js';
import { settingNameLike, typoOf, type ExpectedFor, type FixFor } from './schema-problems.js';
import { readSchema } from './validators.js';
import { COMMAND_NAMES, type AppServices, type Description, type ProcessSpec } from './types.js';
import { keyLabel, setOwn, toList, type YamlFile, type YamlPath } from './yaml-file.js';

// ASCII only: the name is a URL path (`/NAME`), a host name (`NAME.localhost`, where a
// non-ASCII label would need IDNA), a file name under the state root and a Kubernetes name.
// `_` may begin or end it (`_x`: `/_x`, `_x.localhost`, k8s-names.ts makes it `x`); `.` and `-`
// may not: `-x` reads as an option where the name is an argument, `.x` is a hidden file and
// `x.` an empty DNS label in `x..localhost`.
const APP_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;
// NAME.localhost is the app's host: a label holds 63 octets (RFC 1035 section 2.3.4), and the
// whole name stays one such label's length whatever its dots. It is also a directory under the
// state root: a 200 000-character name failed there with ENAMETOOLONG (NAME_MAX is 255).
// schema/*.schema.json say the same (maxLength) for editors.
export const APP_NAME_MAX = 63;
const APP_NAME_RULE = `an app name of ASCII letters (a-z, A-Z), digits, ".", "-" and "_", neither beginning nor ending with "." or "-", at most ${APP_NAME_MAX} characters`;

function isAppName(name: string): boolean {
  return name.length <= APP_NAME_MAX && APP_NAME.test(name);
}

/** `name` cut to APP_NAME_MAX characters, without the "." or "-" the cut may leave at its end. */
function shortenedName(name: string): string {
  return name.slice(0, APP_NAME_MAX).replace(/[.-]+$/, '');
}

/** What a directory name has that an app name may not, said for the `found` of its error. */
function nameFromDirProblem(name: string): string {
  const foreign = [...new Set(name.replace(/[\x00-\x7f]/g, ''))].join('');
  if (foreign !== '') return `(the directory name; ${JSON.stringify(foreign)} is not ASCII)`;
  return name.length > APP_NAME_MAX ? `(the directory name, ${name.length} characters)` : '(the directory name)';
}

/** The directory's name spelt in ASCII, when dropping accents makes it a name: `café` -> `cafe`. */
function asciiNameFor(name: string): string | null {
  const plain = name.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  if (APP_NAME.test(plain)) return shortenedName(plain);
  return null;
}

/** What `init` names an app whose directory's name has nothing in ASCII to make a name of. */
const STAND_IN_NAME = 'app';

/**
 * The `name:` an app.yaml in directory `dirName` must carry because that directory's name (minus
 * its version) is no app name, as `init` writes it: `my project` -> `my-project`, `café` ->
 * `cafe`; `日記`, with nothing of it ASCII, -> `app`, `standIn` (the loader accepts no other
 * script, and an app.yaml without a name would be refused). Null when the directory's name will do.
 */
export function nameToWriteFor(dirName: string): { name: string; standIn: boolean } | null {
  const fromDir = parsePackageDirName(dirName).name;
  if (isAppName(fromDir)) return null;
  const made = nameLike(fromDir);
  return made !== null ? { name: made, standIn: false } : { name: STAND_IN_NAME, standIn: true };
}

/** An app name made of `text` (`my project` -> `my-project`, `café` -> `cafe`, cut to the limit), or null. */
function nameLike(text: string): string | null {
  const made = shortenedName(text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|[.-]+$/g, ''));
  return isAppName(made) ? made : null;
}

/** Names people write for an OS, and the name the host reports (Node's process.platform). */
const OS_ALIASES: Record<string, string> = {
  macos: 'darwin', osx: 'darwin', mac: 'darwin', macosx: 'darwin',
  win32: 'windows', win: 'windows', nt: 'windows', win64: 'windows', unix: 'posix',
};

// Keys whose value may well be a bare word YAML does not read as text: the shell builtin
// `true`, a command `1`, an app named `null`. Quoting keeps the word.
const WORD_KEY = /^(name|commands\.[^.]+|processes\..+\.command)$/;

const MIXINS = ['python', 'wsgi', 'asgi', 'command'];

const APP_KEYS = ['app', 'wsgi.app', 'asgi.app'];

/**
 * The `app:` a fix shows for each kind: a WSGI app's `application` in myapp/wsgi.py (Django's
 * and gunicorn's spelling), an ASGI app's `app` in main.py (FastAPI's and uvicorn's, and what
 * init writes for FastAPI). `myapp.wsgi:application` shown for an ASGI app read as a WSGI one.
 */
export const APP_EXAMPLE = {
  wsgi: { file: 'myapp/wsgi.py', module: 'myapp.wsgi', object: 'application' },
  asgi: { file: 'main.py', module: 'main', object: 'app' },
} as const;

/**
 * The kind of app an `app:` at `key` is, as far as the document says: under `asgi:`, or beside
 * a platform with the asgi mixin, ASGI; otherwise WSGI, as `app:` alone is (SPEC 1.1).
 */
function appKindAt(key: string, root: unknown): 'wsgi' | 'asgi' {
  if (key !== 'app') return key === 'asgi.app' ? 'asgi' : 'wsgi';
  const platform = root !== null && typeof root === 'object' && !Array.isArray(root) ? (root as Record<string, unknown>).platform : undefined;
  const mixins = typeof platform === 'string' ? platform.split(',') : Array.isArray(platform) ? platform.map(String) : [];
  return mixins.some((m) => m.trim().toLowerCase() === 'asgi') ? 'asgi' : 'wsgi';
}

/** What a bad `app:` should be, its example of the app's kind. */
export const descriptionExpectedFor: ExpectedFor = (key, root) => {
  if (!APP_KEYS.includes(key)) return undefined;
  const example = APP_EXAMPLE[appKindAt(key, root)];
  return `module:object, e.g. ${example.module}:${example.object}`;
};

/** Fix hints for app.yaml that depend on the value found. */
export const descriptionFixFor: FixFor = (key, value, found, root) => {
  const example = APP_KEYS.includes(key) ? APP_EXAMPLE[appKindAt(key, root)] : APP_EXAMPLE.wsgi;
  if (APP_KEYS.includes(key) && Array.isArray(value)) {
    const joined = value.length === 2 && value.every((v) => typeof v === 'string') ? value.join(':') : `${example.module}:${example.object}`;
    return `write one module:object, not a list: ${appLine(key, joined)}`;
  }
  if (APP_KEYS.includes(key) && typeof value === 'string') {
    if (!value.includes(':')) {
      // `mysite.wsgi.application` is Django's WSGI_APPLICATION spelling (and `main.app` uvicorn
      // users' slip): the object after the last dot, most likely. A file path names a module.
      if (/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/.test(value) && !value.endsWith('.py')) {
        const cut = value.lastIndexOf('.');
        return `write module:object, the object after a colon: ${appLine(key, `${value.slice(0, cut)}:${value.slice(cut + 1)}`)} (the object ${value.slice(cut + 1)} of the module ${value.slice(0, cut)}), or ${appLine(key, `${value}:${example.object}`)} if ${value} is the module`;
      }
      return `write module:object, e.g. ${appLine(key, `${moduleOfPath(value) ?? example.module}:${example.object}`)}`;
    }
    const call = /^([\w.]+:[\w.]+)\(.+\)$/.exec(value);
    if (call !== null) return `an application factory is called with no arguments: write ${appLine(key, `${call[1]}()`)}`;
    if (/[/\\]|\.py:/.test(value)) return pathAppFix(key, value, example);
    return `write module:object, both dotted Python names, e.g. ${example.module}:${example.object}`;
  }
  if (key === 'platform' && (typeof value === 'string' || (Array.isArray(value) && value.every((m) => typeof m === 'string')))) {
    const mixins = (typeof value === 'string' ? value.split(',') : (value as string[])).map((s) => s.trim()).filter((m) => m !== '');
    const unknown = mixins.filter((m) => !MIXINS.includes(m));
    if (unknown.length > 0 && unknown.every((m) => MIXINS.includes(m.toLowerCase()))) {
      return `mixins are lower-case names: write them in lower case, platform: ${mixins.map((m) => m.toLowerCase()).join(', ')}`;
    }
    // `wgsi`, `asig`: a typo of a mixin, not a framework named where none belongs.
    const meant = unknown.map((m) => closest(m, MIXINS.slice(1)));
    if (unknown.length > 0 && meant.every((m) => m !== undefined)) {
      const written = mixins.map((m) => meant[unknown.indexOf(m)] ?? m);
      return `${unknown.map((m) => JSON.stringify(m)).join(', ')} ${unknown.length === 1 ? 'is not a mixin' : 'are not mixins'}: did you mean ${meant.join(', ')}? write platform: ${written.join(', ')}`;
    }
    if (unknown.length > 0) {
      const names = `${unknown.map((m) => JSON.stringify(m)).join(', ')} ${unknown.length === 1 ? 'is not a mixin' : 'are not mixins'}`;
      return `${names} (a framework needs none: a Flask or Django app is wsgi, a FastAPI or Starlette app asgi); write platform: python, wsgi, platform: python, asgi or platform: python, command`;
    }
  }
  if (key === 'name' && typeof value === 'string' && value.length > APP_NAME_MAX) {
    return `shorten it to at most ${APP_NAME_MAX} characters (it has ${value.length}): name: ${nameLike(value) ?? 'blog'} (NAME.localhost is the app's host name, and a DNS label holds 63)`;
  }
  if (WORD_KEY.test(key) && (typeof value === 'boolean' || typeof value === 'number' || (value === null && found !== 'nothing'))) {
    const what = value === null ? 'nothing (null)' : typeof value === 'boolean' ? 'a boolean' : 'a number';
    return `quote it: ${key.split('.').pop()}: "${found}" (unquoted, YAML reads ${found} as ${what}, not as text)`;
  }
  if (key === 'python' && Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) {
    // A list, as deb: and paths: take one; PEP 440 joins the clauses of one specifier with commas.
    const joined = value.map((v) => v.replace(/\s+/g, '')).join(',');
    if (validRange(joined)) return `write one quoted specifier, its clauses joined by commas: python: "${joined}"`;
  }
  if (key === 'python') {
    // A number is shown as written: `python: 3.10` is 3.1 to YAML, "3.10" to the user.
    const text = typeof value === 'number' ? found : typeof value === 'string' ? value.trim() : '';
    if (/^\d+(\.\d+)*$/.test(text)) {
      return `add an operator: python: ">=${text}" (this version or later) or python: "==${text}.*" (this series)`;
    }
    const spelled = pep440Spelling(text);
    if (spelled !== null) return spelled;
  }
  if (/^settings(\[\d+\])?$/.test(key) && typeof value === 'string' && !/[,\s]/.test(value)) {
    return `name it with letters, digits and "_" only, e.g. ${settingNameLike(value)}`;
  }
  // An empty route or health is no path to put a slash before: "write route: /" is refused too.
  if (/^processes\..+\.route$/.test(key) && typeof value === 'string' && value.trim() === '') {
    return `write route: /live, or take route: out to make ${key.replace(/^processes\.|\.route$/g, '')} a background process`;
  }
  if (/^processes\..+\.route$/.test(key) && typeof value === 'string') {
    const fix = pathPrefixFix('route', value);
    if (fix !== undefined) return fix;
  }
  if (key === 'health' && typeof value === 'string' && value.trim() === '') {
    return 'write health: /healthz (a path the app answers with 2xx), or take health: out';
  }
  // `static: static/` gave the directory alone, and the fix said to write a prefix, which is half
  // of what static: takes: say the mapping, with the form to write for that directory.
  if (key === 'static' && typeof value === 'string' && !value.includes('://')) {
    const name = value.trim().replace(/^\.?\/+|\/+$/g, '') || 'static';
    return `static: maps URL prefixes to directories of the app, one per line under it: write static: {/${name}: ${name}/}, or static: and under it the line "  /${name}: ${name}/"`;
  }
  if (/^(health|processes\..+\.route|static)$/.test(key) && typeof value === 'string' && !value.startsWith('/')) {
    return missingSlashFix(key.split('.').pop()!, value, (path) => (key === 'static' ? `${path}: ...` : `${key.split('.').pop()}: ${path}`));
  }
  // `command:python -m blog.tasks` under processes.worker is one word to YAML, not a key and a
  // value: the mapping the key needs is there but for a space.
  const glued = typeof value === 'string' ? /^(command|route|app)\s*:(\S.*)$/.exec(value) : null;
  if (glued !== null && /^(processes\.[^.]+|wsgi|asgi)$/.test(key)) {
    return `write a space after the colon: ${glued[1]}: ${glued[2]}`;
  }
  // `os: "linux, darwin"`, written as platform: is, is one name to YAML: the list was meant.
  if (key === 'os' && typeof value === 'string' && /^\s*\w+(\s*,\s*\w+)+\s*$/.test(value)) {
    const names = value.split(',').map((name) => OS_ALIASES[name.trim().toLowerCase()] ?? name.trim().toLowerCase());
    return `write a list: os: [${names.join(', ')}]`;
  }
  if (/^os(\[\d+\])?$/.test(key) && typeof value === 'string' && OS_ALIASES[value.toLowerCase()]) {
    return `write ${OS_ALIASES[value.toLowerCase()]} (the name the host reports for it)`;
  }
  return undefined;
};

/**
 * The PEP 440 spelling of a Python requirement written as another tool writes it (Poetry's
 * `^3.9`, npm's `>=3.9 <3.12`), or of an interpreter named where a version goes; null when
 * none is known. Each suggestion is itself a valid specifier.
 */
function pep440Spelling(text: string): string | null {
  if (/^(python|py)\d*(\.\d+)*$/i.test(text) || text.includes('/')) {
    const version = /\d+(\.\d+)*/.exec(text)?.[0];
    const like = version && version.includes('.') ? `"==${version}.*"` : '">=3.9"';
    return `python: is the versions the app runs on, e.g. python: ${like}; the interpreter itself is the host's choice: python: in the environment file`;
  }
  let spelled: string | null = null;
  const caret = /^\^\s*(\d+)((\.\d+)*)$/.exec(text);
  const tilde = /^~\s*(\d+\.\d+)(\.\d+)?$/.exec(text);
  if (caret) spelled = `>=${caret[1]}${caret[2]},<${Number(caret[1]) + 1}`;
  else if (tilde) spelled = tilde[2] ? `>=${tilde[1]}${tilde[2]},==${tilde[1]}.*` : `==${tilde[1]}.*`;
  else if (/^\d+(\.\d+)*\.\*$/.test(text)) spelled = `==${text}`;
  // `~=3`: a compatible release needs two numbers (PEP 440), so the major series is spelled alone.
  else if (/^~=\s*\d+$/.test(text)) spelled = `==${text.replace(/^~=\s*/, '')}.*`;
  else if (/^(>=|<=|>|<|~=)\s*\d+(\.\d+)*\.\*$/.test(text)) spelled = text.replace(/\.\*$/, '');
  else if (/^([<>=!~]=?\s*[\w.*]+)(\s+[<>=!~]=?\s*[\w.*]+)+$/.test(text)) spelled = text.split(/\s+(?=[<>=!~])/).map((c) => c.replace(/\s+/g, '')).join(',');
  if (spelled === null || !validRange(spelled)) return null;
  return `write it as PEP 440 does: python: "${spelled}"`;
}

/**
 * A path inside the package, normalised (`./vendor/` -> `vendor`); reports and returns
 * undefined for an absolute path or one that climbs out with `..`.
 */
function packagePath(yaml: YamlFile, at: YamlPath, value: string, example: string): string | undefined {
  // White space alone names nothing anyone meant: check would look for a directory "   ".
  if (value.trim() === '') {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'a path relative to the package directory',
      found: `${yaml.found(at)} (only white space, no name)`,
      fix: `write the name it stands for, e.g. ${example}, or take it out`,
    });
    return undefined;
  }
  const slashed = value.replace(/\\/g, '/');
  if (path.posix.isAbsolute(slashed) || /^[A-Za-z]:/.test(slashed) || slashed.startsWith('~')) {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'a path relative to the package directory',
      found: yaml.found(at),
      fix: `write it relative to the directory that holds app.yaml, e.g. ${example}`,
    });
    return undefined;
  }
  const normal = path.posix.normalize(slashed).replace(/(.)\/+$/, '$1');
  if (normal === '..' || normal.startsWith('../')) {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'a path inside the package (no ".." out of it)',
      found: yaml.found(at),
      fix: 'move what it points at into the package; a package must work wherever it is copied',
    });
    return undefined;
  }
  return normal;
}

/** A URL prefix normalised without its trailing "/"; "/" alone is refused (it would take every request). */
function urlPrefix(yaml: YamlFile, at: YamlPath, value: string, where: 'key' | 'value', what: string): string | undefined {
  const prefix = value.replace(/\/+$/, '');
  if (prefix === '') {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: `a URL prefix longer than "/" (${what})`,
      found: JSON.stringify(value),
      fix: 'use a prefix such as /static or /live; "/" would hide the rest of the app',
    }, where);
    return undefined;
  }
  return prefix;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function normaliseDescription(yaml: YamlFile, file: string, dir: string, dirName: string): Description {
  const fromDir = parsePackageDirName(dirName);

  let name = str(yaml.valid(['name']));
  if (name === undefined && yaml.raw(['name']) === undefined) {
    name = fromDir.name;
    if (!isAppName(name)) {
      const ascii = asciiNameFor(name);
      yaml.report('APPPKG_DESC_BAD_VALUE', [], {
        key: 'name',
        expected: APP_NAME_RULE,
        found: `${JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name)} ${nameFromDirProblem(name)}`,
        // The directory keeps its `.VERSION`: without it the renamed package would be another version.
        fix: `add \`name: ${ascii ?? '...'}\` to app.yaml, or rename the directory${ascii === null ? '' : ` to ${ascii}${dirName.slice(name.length)}`}`,
      }, 'value', null);
    }
  }

  // platform: the mixins, and from them what kind of app this is.
  const spelled = (['wsgi', 'asgi'] as const).filter((k) => yaml.raw([k]) !== undefined);
  const hasApp = yaml.raw(['app']) !== undefined || spelled.some((k) => yaml.raw([k, 'app']) !== undefined);
  const hasWeb = yaml.raw(['processes', 'web']) !== undefined;
  // Without platform:, `asgi: {app:}` says ASGI; `app:` alone means WSGI, as the seed's format did.
  let kind: Description['kind'] = spelled.includes('asgi') ? 'asgi' : hasApp || !hasWeb ? 'wsgi' : 'command';
  let platform: string[] = ['python', kind];
  const platformValue = yaml.valid(['platform']);
  if (platformValue !== undefined) {
    const mixins = typeof platformValue === 'string' ? platformValue.split(',').map((s) => s.trim()).filter(Boolean) : (platformValue as unknown[]).map(String);
    reportRepeats(yaml, mixins.map((m, i) => [typeof platformValue === 'string' ? ['platform'] : ['platform', i], m]), 'mixin', typeof platformValue === 'string');
    platform = toList(mixins);
    const mixed = platform.filter((m) => m === 'wsgi' || m === 'asgi' || m === 'command');
    // `platform: python` beside `asgi: {app:}` (SPEC 5.1's "or") or `wsgi: {app:}`: the key names
    // the kind, as it does without platform:; refused, the user had written it twice over.
    const kinds = mixed.length === 0 && spelled.length === 1 ? [spelled[0]] : mixed;
    if (!platform.includes('python') || kinds.length !== 1) {
      yaml.report('APPPKG_DESC_BAD_VALUE', ['platform'], {
        expected: 'python plus exactly one of wsgi, asgi or command, e.g. "python, wsgi"',
        found: yaml.found(['platform']),
        fix: 'write platform: python, wsgi (a WSGI app:), platform: python, asgi (an ASGI app:) or platform: python, command (processes.web.command serves on $PORT)',
      });
    } else {
      kind = kinds[0] as Description['kind'];
      // Mixins are a set: `wsgi, python` describes what `python, wsgi` does, in describe's order.
      platform = ['python', kind];
    }
  }

  // app:, wsgi: {app:} or asgi: {app:}: one of them, required for wsgi and asgi, refused for command.
  if (yaml.raw(['app']) !== undefined && spelled.length > 0) {
    yaml.report('APPPKG_DESC_BAD_VALUE', [spelled[0]], {
      expected: `either app: or ${spelled[0]}: {app: ...}, not both`,
      found: 'both',
      fix: `remove ${spelled[0]}: and keep app:`,
    }, 'key');
  } else if (spelled.length > 1) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['asgi'], {
      expected: 'either wsgi: {app: ...} or asgi: {app: ...}: an app is one or the other',
      found: 'both',
      fix: 'keep the one the app is (Flask, Django: wsgi; FastAPI, Starlette: asgi)',
    }, 'key');
  }
  for (const spelling of spelled) {
    const other = spelling === 'wsgi' ? 'asgi' : 'wsgi';
    if (platformValue !== undefined && kind === other) {
      yaml.report('APPPKG_DESC_BAD_VALUE', [spelling], {
        expected: `app: or ${other}: {app: ...} for platform ${other}`,
        found: `${spelling}:`,
        fix: `write app: module:object, or platform: python, ${spelling} if the app is ${spelling.toUpperCase()}`,
      }, 'key');
    }
  }
  const appAt = ([['app'], ['wsgi', 'app'], ['asgi', 'app']] as YamlPath[]).find((at) => str(yaml.valid(at)) !== undefined);
  let app = appAt === undefined ? null : str(yaml.valid(appAt))!;
  // `hello.py:application` fits the schema's dotted names, but Python imports the file hello.py
  // as `hello`: the import would fail with "No module named 'hello.py'" (issue 13).
  if (appAt !== undefined && app !== null && /\.py:/.test(app)) {
    const fixed = app.replace(/\.py:/, ':');
    yaml.report('APPPKG_DESC_BAD_VALUE', appAt, {
      expected: 'module:object with the module named as Python imports it',
      found: `${yaml.found(appAt)} (a module name cannot end in .py)`,
      fix: `write ${appLine(keyLabel(appAt), fixed)} (the file ${app.split(':')[0].replace(/\.py$/, '').replace(/\./g, '/')}.py is the module ${fixed.split(':')[0]})`,
    });
    app = null;
  }
  const missingAt: YamlPath = yaml.raw(['platform']) !== undefined ? ['platform'] : [];
  // (`wsgi:` or `asgi:` without app: is the schema's to report.)
  // `ap:` for `app:`: said once, at the typo (its "did you mean app"), not as app missing too.
  if ((kind === 'wsgi' || kind === 'asgi') && !hasApp && spelled.length === 0 && !typoOf(yaml.raw([]), 'app', Object.keys(readSchema('app').properties as object))) {
    const example = APP_EXAMPLE[kind];
    yaml.report('APPPKG_DESC_MISSING_KEY', missingAt, {
      key: 'app',
      expected: `module:object, the ${kind.toUpperCase()} callable (e.g. app: ${example.module}:${example.object})`,
      fix: 'add app: module:object, or write platform: python, command and give processes.web.command',
    }, 'key', ['app']);
  }
  if (kind === 'command' && hasApp) {
    const at = yaml.raw(['app']) !== undefined ? ['app'] : [spelled[0]];
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'no app: for platform command (processes.web.command serves the app)',
      found: yaml.found(at),
      fix: 'remove it, or write platform: python, wsgi to let the gateway import it',
    }, 'key');
    app = null;
  }
  if (kind === 'command' && yaml.raw(['processes', 'web', 'command']) === undefined && !yaml.failedAtOrAbove(['processes', 'web', 'command'])) {
    yaml.report('APPPKG_DESC_MISSING_KEY', yaml.raw(['processes']) !== undefined ? ['processes'] : missingAt, {
      key: 'processes.web.command',
      expected: "the command that starts the app's own server on $PORT",
      fix: 'add processes: {web: {command: python -m myapp --port $PORT}}, or write platform: python, wsgi with app: module:object',
    }, 'key', ['processes', 'web', 'command']);
  }
  if ((kind === 'wsgi' || kind === 'asgi') && hasWeb && !yaml.failedAtOrAbove(['processes', 'web'])) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['processes', 'web'], {
      expected: `a process name other than web for platform ${kind} (the gateway's workers are the web process)`,
      found: 'web',
      fix: 'rename the process, or write platform: python, command if processes.web is the app\'s own server',
    }, 'key');
  }

  let python = str(yaml.valid(['python']))?.trim() ?? null;
  if (python !== null && (python === '' || !validRange(python))) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['python'], {
      expected: 'a PEP 440 specifier like ">=3.9"',
      found: yaml.found(['python']),
      fix: descriptionFixFor('python', python, '') ?? 'write a specifier such as ">=3.9", "~=3.11" or ">=3.9,<3.13" (operators: >=, <=, >, <, ==, !=, ~=)',
    });
    python = null;
  }

  const pipValue = str(yaml.valid(['pip']));
  const pip = pipValue === undefined ? null : packagePath(yaml, ['pip'], pipValue, 'requirements.txt') ?? null;

  const pathsValue = yaml.valid(['paths']);
  const pathList = Array.isArray(pathsValue) ? pathsValue.map((p, i) => [['paths', i], p] as const) : pathsValue === undefined ? [] : [[['paths'], pathsValue] as const];
  const pathEntries: Array<[YamlPath, string, string]> = [];
  for (const [at, value] of pathList) {
    const normal = packagePath(yaml, at, String(value), 'vendor/');
    if (normal !== undefined) pathEntries.push([at, normal, String(value)]);
  }
  // vendor and ./vendor are one directory: refused as a repeat, each path of a loaded
  // description is its own entry, and check places a missing one by its index.
  reportRepeats(yaml, pathEntries, 'path', false);
  const paths = toList(pathEntries.map(([, normal]) => normal));

  const staticDirs: Record<string, string> = {};
  const staticPlaces: Description['positions'] = {};
  const staticValue = yaml.raw(['static']);
  if (staticValue !== null && typeof staticValue === 'object' && !yaml.failedAtOrAbove(['static'])) {
    for (const rawPrefix of Object.keys(staticValue)) {
      if (rawPrefix.startsWith('x-')) continue; // the user's (SPEC 1.1): no prefix, never served
      const dirValue = str(yaml.valid(['static', rawPrefix]));
      if (dirValue === undefined) continue;
      const prefix = urlPrefix(yaml, ['static', rawPrefix], rawPrefix, 'key', 'the gateway serves files under it');
      const target = packagePath(yaml, ['static', rawPrefix], dirValue, 'static/');
      if (prefix === undefined || target === undefined) continue;
      if (Object.hasOwn(staticDirs, prefix)) {
        yaml.report('APPPKG_DESC_BAD_VALUE', ['static', rawPrefix], {
          expected: 'each URL prefix once', found: `${JSON.stringify(rawPrefix)} again`, fix: 'remove one of the two entries',
        }, 'key');
        continue;
      }
      setOwn(staticDirs, prefix, target);
      // `/assets/:` is `/assets` from here on: errors about it find its line under that name.
      if (prefix !== rawPrefix) setOwn(staticPlaces, keyLabel(['static', prefix]), yaml.position(['static', rawPrefix], 'key'));
    }
  }

  const processes: Record<string, ProcessSpec> = {};
  const processesValue = yaml.raw(['processes']);
  const routes = new Map<string, string>();
  if (processesValue !== null && typeof processesValue === 'object' && !yaml.failedAtOrAbove(['processes'])) {
    for (const processName of Object.keys(processesValue)) {
      // An x- key is the user's here as anywhere else (SPEC 1.1), an anchor's home say: not a process.
      if (processName.startsWith('x-')) continue;
      const command = str(yaml.valid(['processes', processName, 'command']));
      const routeValue = str(yaml.valid(['processes', processName, 'route']));
      if (command === undefined) continue;
      let route: string | null = null;
      if (routeValue !== undefined) {
        const at = ['processes', processName, 'route'];
        route = urlPrefix(yaml, at, routeValue, 'value', 'its requests go to this process') ?? null;
        if (route !== null && processName === 'web') {
          yaml.report('APPPKG_DESC_BAD_VALUE', at, {
            expected: 'no route for processes.web (it takes every request not routed elsewhere)',
            found: yaml.found(at),
            fix: 'remove the route',
          });
        } else if (route !== null && routes.has(route)) {
          yaml.report('APPPKG_DESC_BAD_VALUE', at, {
            expected: `a route no other process has (processes.${routes.get(route)} has ${route})`,
            found: yaml.found(at),
            fix: 'give each process its own route',
          });
        } else if (route !== null && staticAbove(staticDirs, route) !== undefined) {
          // Static files are answered before any process route is looked at (proxy/front.ts):
          // a route at or under a static prefix would never get a request, websockets included.
          const prefix = staticAbove(staticDirs, route)!;
          yaml.report('APPPKG_DESC_BAD_VALUE', at, {
            expected: `a route outside every static: prefix (static["${prefix}"] answers every request under ${prefix}, so none would reach this process)`,
            found: yaml.found(at),
            fix: `give the process a route outside ${prefix}, or serve its files under the route instead (static: {${route}/static: ...})`,
          });
        } else if (route !== null) {
          routes.set(route, processName);
        }
      }
      setOwn(processes, processName, { command, route: processName === 'web' ? null : route });
    }
  }

  const settingsValue = yaml.valid(['settings']);
  const settings: string[] = [];
  const settingList = Array.isArray(settingsValue) ? settingsValue.map((s, i) => [['settings', i], s] as const) : settingsValue === undefined ? [] : [[['settings'], settingsValue] as const];
  reportRepeats(yaml, settingList.map(([at, value]) => [at, String(value)]), 'setting name', false);
  for (const [i, [at, settingName]] of settingList.entries()) {
    if (settingList.findIndex(([, other]) => String(other) === String(settingName)) < i) continue;
    const reserved = reservedSettingsRule();
    if (!reserved.isReserved(String(settingName))) {
      settings.push(String(settingName));
      continue;
    }
    // No environment file may give it (host-file.ts refuses it there), so the app could never start.
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: reserved.expected,
      found: `${yaml.found(at)} (no environment file may give it, so the app could never start)`,
      fix: reserved.fix,
    });
  }

  const commands: Description['commands'] = {};
  for (const hook of COMMAND_NAMES) {
    const command = str(yaml.valid(['commands', hook]));
    if (command !== undefined) commands[hook] = command;
  }

  // Mail is POSTed through the gateway's own listener, where a static prefix answers first (405).
  const mail = str(yaml.valid(['mail']));
  const mailUnderStatic = mail === undefined ? undefined : staticAbove(staticDirs, mail.replace(/\/+$/, ''));
  if (mailUnderStatic !== undefined) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['mail'], {
      expected: `a path outside every static: prefix (static["${mailUnderStatic}"] answers every request under ${mailUnderStatic}, a POST with 405, so no message would be delivered)`,
      found: yaml.found(['mail']),
      fix: 'give mail: a path of its own, e.g. mail: /_mail',
    });
  }

  const extensions = extensionsOf(yaml.data as Record<string, unknown>);

  return {
    file,
    dir,
    name: name ?? fromDir.name,
    version: fromDir.version,
    kind,
    platform,
    os: listedOnce(yaml, 'os', 'operating system'),
    python,
    deb: listedOnce(yaml, 'deb', 'package'),
    rpm: listedOnce(yaml, 'rpm', 'package'),
    pip,
    paths,
    app: kind === 'wsgi' || kind === 'asgi' ? app : null,
    settings,
    static: staticDirs,
    health: str(yaml.valid(['health'])) ?? null,
    services: {
      database: (str(yaml.valid(['services', 'database'])) as AppServices['database'] | undefined) ?? null,
      redis: (str(yaml.valid(['services', 'redis'])) as AppServices['redis'] | undefined) ?? null,
    },
    mail: mail ?? null,
    processes,
    commands,
    extensions,
    positions: { ...keyPositions(yaml), ...staticPlaces },
  };
}

/**
 * Where each key stands in the file, for errors found after loading: a top-level key at its
 * value (as it always was), a nested one (`static["/assets"]`, `processes.ws.command`,
 * `settings[1]`) at its own key, or its item in a list, so that a failure about the second
 * static directory points at that line, not at the first entry's. `x-` keys are the user's and
 * never the subject of an error: they are not walked (one may be large).
 */
function keyPositions(yaml: YamlFile): Description['positions'] {
  const positions: Description['positions'] = {};
  for (const key of Object.keys((yaml.data ?? {}) as Record<string, unknown>)) {
    setOwn(positions, key, yaml.position([key]));
    if (key.startsWith('x-')) continue;
    for (const [at, place] of yaml.placesBelow([key], 2)) {
      // The first of a duplicated key is the one position() finds, and the one errors name.
      if (!Object.hasOwn(positions, keyLabel(at))) setOwn(positions, keyLabel(at), place);
    }
  }
  return positions;
}

/** The `x-` keys of `value` when it is a mapping that has any, as written; else undefined. */
function ownExtensions(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const found: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) if (key.startsWith('x-')) setOwn(found, key, inner);
  return Object.keys(found).length > 0 ? found : undefined;
}

/**
 * Every `x-` key, as written, for the user's own tools (`describe`'s `extensions`): the top
 * level's as they are, and those the schema allows deeper (in wsgi, asgi, services, commands,
 * static, processes and each process) under their parent's path, `{processes: {x-common: ..., ws:
 * {x-replicas: 2}}}`, so that none is dropped on the way and none can be taken for another's.
 */
function extensionsOf(data: Record<string, unknown>): Record<string, unknown> {
  const extensions = ownExtensions(data) ?? {};
  for (const parent of ['wsgi', 'asgi', 'services', 'commands', 'static']) {
    const below = ownExtensions(data[parent]);
    if (below !== undefined) setOwn(extensions, parent, below);
  }
  const processes: Record<string, unknown> = {};
  const specs = data.processes !== null && typeof data.processes === 'object' && !Array.isArray(data.processes) ? data.processes : {};
  for (const [name, spec] of Object.entries(specs)) {
    const below = name.startsWith('x-') ? spec : ownExtensions(spec);
    if (below !== undefined) setOwn(processes, name, below);
  }
  if (Object.keys(processes).length > 0) setOwn(extensions, 'processes', processes);
  return extensions;
}

/**
 * Each entry of a list key (`platform`, `settings`, `paths`, ...) that names what an earlier one
 * does, reported at its own place: a second `python` says nothing more, and may be a typo for what
 * is missing. An entry's third element is how it is written, when that differs from what it names
 * (`./vendor` for `vendor`). `inline`: the entries are the comma-separated words of one value
 * (`platform: python, python`).
 */
function reportRepeats(yaml: YamlFile, entries: Array<[YamlPath, string, string?]>, what: string, inline: boolean): void {
  const firstAt = new Map<string, [YamlPath, string]>();
  const unique = [...new Set(entries.map(([, value]) => value))];
  for (const [at, value, written = value] of entries) {
    const first = firstAt.get(value);
    if (first === undefined) {
      firstAt.set(value, [at, written]);
      continue;
    }
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: `each ${what} once`,
      found: `${JSON.stringify(written)} again${inline ? '' : ` (${keyLabel(first[0])} is ${JSON.stringify(first[1])})`}`,
      fix: inline ? `write each once: ${String(at[0])}: ${unique.join(', ')}` : `remove it: ${String(at[0])}: [${unique.join(', ')}]`,
    }, 'value', null);
  }
}

/** A key of one name or a list of names (`deb`, `rpm`, `os`), a name given twice refused at its entry. */
function listedOnce(yaml: YamlFile, key: string, what: string): string[] {
  const value = yaml.valid([key]);
  if (Array.isArray(value)) reportRepeats(yaml, value.map((v, i) => [[key, i], String(v)]), what, false);
  return toList(value);
}

/** The static prefix that `route` is, or lies under; undefined when none. */
function staticAbove(staticDirs: Record<string, string>, route: string): string | undefined {
  return Object.keys(staticDirs).find((prefix) => route === prefix || route.startsWith(`${prefix}/`));
}
