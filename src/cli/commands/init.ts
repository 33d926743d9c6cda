import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { CommandSpec, ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { stdlibNameProblem } from '../../environment/stdlib-modules.js';
import { misnamedDescriptionError } from '../../description/misnamed.js';
import { systemPackagesOf } from '../../environment/system-module.js';
import { nameToWriteFor } from '../../description/normalise-description.js';
import { parsePackageDirName } from '../../description/package-dir.js';
import { tornadoProcessLines } from '../../description/tornado-command.js';
import { pecanUnmappedFiles, projectStatic } from '../project-static.js';

export const spec: CommandSpec = {
  name: 'init',
  summary:
    'Write a commented app.yaml for an existing WSGI or ASGI project: finds the application object\n' +
    '(a module-level `application`, `app = Flask(...)`, `FastAPI(...)`, `Starlette(...)`, `Quart(...)`,\n' +
    '`falcon.App()` or `falcon.asgi.App()`, `Bottle()`, Pyramid\'s `config.make_wsgi_app()`,\n' +
    '`cherrypy.Application(...)`, web.py\'s `web.application(...)` (its `wsgifunc()`), hug\'s `__hug_wsgi__`,\n' +
    'an `async def app(scope, receive, send)`, a `def app(environ, start_response)`\n' +
    'or any function with those parameter names; annotated assignments too, and those in a module-level `with`;\n' +
    'an `app = Middleware(api)` that wraps such an object under another name, which it serves in its place;\n' +
    'aiohttp\'s `web.Application()`, which is neither and gets `platform: python, command`, run by gunicorn;\n' +
    'Tornado\'s `tornado.web.Application()` or its `make_app()` factory, neither too, run by Tornado on $PORT;\n' +
    'a `create_app()` factory, or an app imported from another package: `from xandikos.wsgi import app`),\n' +
    'its framework\'s Debian package and, without a requirements.txt, those of what it imports (Django\'s\n' +
    'INSTALLED_APPS and MIDDLEWARE too),\n' +
    'requirements.txt, Django\'s manage.py (and a SQLite database kept in the project, which it\n' +
    'warns of), a Django Channels project\'s asgi.py (its ProtocolTypeRouter) over its wsgi.py (and\n' +
    'its in-memory channel layer, which needs one worker), and of a project with async views, which asgi.py would\n' +
    'serve on an event loop; code under src/ (the src layout) gets `paths: [src/]`; code that reads DATABASE_URL\n' +
    'gets `services: {database: sql}` (SQLite where the host names no PostgreSQL), and a Socket.IO server a note\n' +
    'that it needs one worker.',
  usage: 'apppkg-gateway init [DIR] [--force]',
  optionHelp: [['--force', 'overwrite an existing app.yaml']],
  options: { force: { type: 'boolean' } },
  allowPositionals: 1,
};

// vendor/: bundled libraries (issue 19), whose `app = Flask(...)` lines are not the project's.
const SKIP_DIRS = new Set(['.git', 'node_modules', '__pycache__', 'venv', '.venv', 'env', 'site-packages', 'dist', 'build', 'tests', 'test', 'vendor']);

interface Candidate {
  module: string;
  object: string;
  score: number;
  /** `command`: an app that is neither (aiohttp's), run by its own server as `processes.web`. */
  kind: 'wsgi' | 'asgi' | 'command';
  framework: Framework | 'django' | 'plain';
  /** Found under src/ that is no package itself (the "src layout"): `paths: [src/]`, the module without it. */
  inSrc?: boolean;
}

/** `name = ` or `name: Annotation = ` at the start of a line (`(\w+)`: the name, captured). */
const assignment = (name: string, value = ''): RegExp => new RegExp(String.raw`^${name}\s*(?::\s*[\w.\[\], |]+?\s*)?=(?!=)\s*${value}`, 'm');
const APPLICATION = new RegExp(`${assignment('application').source}|^(async\\s+)?def application\\s*\\(`, 'm');
// Not `app = {...}`: a literal is configuration (Pecan's config.py, `app = {'root': ...}`), never an app.
const APP = assignment('app', String.raw`(?!\s*[{\['"\d])`);

/** A module that imports web.py (`import web`), whose `web.application()` is its app. */
const WEBPY_IMPORT = /^\s*(?:import\s+web\b|from\s+web\s+import\b)/m;
/**
 * A hug API: routes declared with `@hug.get(...)` in a module that imports hug, whose WSGI app
 * is the module's `__hug_wsgi__` (hug's docs: `gunicorn api:__hug_wsgi__`); no name of the
 * module is assigned one.
 */
const HUG_ROUTES = /^\s*import\s+hug\b[\s\S]*^@hug\.(?:get|post|put|patch|delete|http|call|default_output_format|not_found|static|cli)\b/m;

/** A module that imports Tornado, whose `web.Application()` is then Tornado's, not aiohttp's. */
const TORNADO_IMPORT = /^\s*(?:import\s+tornado\b|from\s+tornado\b)/m;

type Framework = 'flask' | 'fastapi' | 'starlette' | 'quart' | 'falcon' | 'bottle' | 'pyramid' | 'cherrypy' | 'aiohttp' | 'tornado' | 'webpy' | 'hug';

/**
 * How each framework's app is made at module level, `name = <made>`, and so what it is: Quart's
 * `Quart(__name__)` is ASGI however its file is named, Falcon's `falcon.App()` WSGI and its
 * `falcon.asgi.App()` ASGI. `when`: what the file must import for a bare name (`App()`) to be it.
 */
const FRAMEWORK_MADE: ReadonlyArray<{ framework: Framework; kind: Candidate['kind']; made: string; when?: RegExp; served?: string }> = [
  { framework: 'flask', kind: 'wsgi', made: String.raw`(?:flask\.)?Flask\s*\(` },
  { framework: 'fastapi', kind: 'asgi', made: String.raw`(?:fastapi\.)?FastAPI\s*\(` },
  { framework: 'starlette', kind: 'asgi', made: String.raw`(?:starlette\.applications\.)?Starlette\s*\(` },
  { framework: 'quart', kind: 'asgi', made: String.raw`(?:quart\.)?Quart\s*\(` },
  { framework: 'falcon', kind: 'asgi', made: String.raw`(?:falcon\.)?asgi\.App\s*\(` },
  { framework: 'falcon', kind: 'asgi', made: String.raw`App\s*\(`, when: /^\s*from\s+falcon\.asgi\s+import\b[^\n]*\bApp\b/m },
  { framework: 'falcon', kind: 'wsgi', made: String.raw`falcon\.(?:App|API)\s*\(` },
  { framework: 'falcon', kind: 'wsgi', made: String.raw`(?:App|API)\s*\(`, when: /^\s*from\s+falcon\s+import\b[^\n]*\b(?:App|API)\b/m },
  { framework: 'bottle', kind: 'wsgi', made: String.raw`(?:bottle\.)?(?:Bottle|default_app)\s*\(` },
  // Pyramid's Configurator, whatever the variable holding it is called.
  { framework: 'pyramid', kind: 'wsgi', made: String.raw`\w+\.make_wsgi_app\s*\(` },
  // cherrypy.Application(Root()), cherrypy.tree.mount(Root(), '/'), or the tree itself.
  { framework: 'cherrypy', kind: 'wsgi', made: String.raw`cherrypy\.(?:Application\s*\(|tree\b)` },
  // web.py's `app = web.application(urls, globals())`, as its tutorial writes it: not itself a
  // WSGI callable (check: "expected a WSGI or ASGI callable"); its `wsgifunc()` makes one.
  { framework: 'webpy', kind: 'wsgi', made: String.raw`(?:web\.)?application\s*\(`, when: WEBPY_IMPORT, served: '.wsgifunc()' },
  // Tornado's `tornado.web.Application()` (before aiohttp's, which a bare `web.Application()` would
  // also match): neither WSGI nor ASGI, served by Tornado's own server (SPEC 1.1's example).
  { framework: 'tornado', kind: 'command', made: String.raw`(?:tornado\.)?web\.Application\s*\(`, when: TORNADO_IMPORT },
  // aiohttp's `web.Application()`: neither WSGI nor ASGI, served by its own server.
  { framework: 'aiohttp', kind: 'command', made: String.raw`(?:aiohttp\.)?web\.Application\s*\(` },
  { framework: 'aiohttp', kind: 'command', made: String.raw`Application\s*\(`, when: /^\s*from\s+aiohttp\.web\s+import\b[^\n]*\bApplication\b/m },
];
const FRAMEWORK_APPS = FRAMEWORK_MADE.map((entry) => ({ ...entry, pattern: assignment(String.raw`(\w+)`, entry.made) }));

/** The framework a file imports, for the Debian package of an app it makes under another form. */
const FRAMEWORK_IMPORT = /^\s*(?:from|import)\s+(django|flask|fastapi|starlette|quart|falcon|bottle|pyramid|cherrypy|aiohttp|tornado)\b/m;
/**
 * An application factory at module level (Flask's tutorial layout, `def create_app(test_config=None)`):
 * served as `module:create_app()`, called once per worker, as gunicorn's `'module:create_app()'`.
 */
const FACTORY = /^def (create_app|make_app)\s*\(/m;
/**
 * A plain WSGI function: named `app` (`def app(environ, start_response)`, as `application` is
 * found above), or named anything with PEP 3333's parameter names (its `simple_app`).
 */
const DEF_APP = /^def app\s*\(\s*\w+\s*,\s*\w+\s*\)/m;
const WSGI_SIGNATURE = /^def (\w+)\s*\(\s*environ\s*,\s*start_response\s*\)/m;
/**
 * A module-level `from PKG import NAMES`: the whole of a wrapper around an app another package
 * makes (`from xandikos.wsgi import app`, after setting the variables it reads), what each name
 * is bound to (`app as application`) read from NAMES.
 */
const FROM_IMPORT = /^from\s+[A-Za-z_][\w.]*\s+import\s+\(?([^)\n#]*)/gm;
/** Every top-level module a file imports (`import a.b, c as d`, `from e.f import g`), relative imports aside. */
const IMPORTS = /^[ \t]*(?:import\s+([^\n#;]+)|from\s+([A-Za-z_]\w*)[\w.]*\s+import\b)/gm;
/** Django Channels' routing of scope types (`application = ProtocolTypeRouter({...})`), imported from channels. */
const CHANNELS_ROUTER = /^\s*from\s+channels\.routing\s+import\b[^\n]*\bProtocolTypeRouter\b/m;
/** Channels' in-process channel layer: its groups live in one worker's memory. */
const IN_MEMORY_LAYER = /channels\.layers\.InMemoryChannelLayer/;
/**
 * The project reads DATABASE_URL (`os.environ["DATABASE_URL"]`, `os.getenv("DATABASE_URL")`, or
 * dj-database-url's `config()`, which reads it by default): what `services: {database: sql}`
 * gives it, SQLite where the host names no PostgreSQL, so the app runs with nothing set up.
 */
const READS_DATABASE_URL = /['"]DATABASE_URL['"]|dj_database_url\.config\s*\(/;
/**
 * A Socket.IO server (Flask-SocketIO's `SocketIO(app)`, python-socketio's `socketio.Server(` or
 * `WSGIApp(`): its sessions live in the process that made them, so it needs one worker.
 */
const SOCKETIO_SERVER = /^\s*(?:from\s+flask_socketio\s+import\b[^\n]*\bSocketIO\b[\s\S]*\bSocketIO\s*\(|import\s+socketio\b[\s\S]*\bsocketio\.(?:Server|WSGIApp)\s*\()/m;
/** Django's startproject default: SQLite in the project directory, which is the version's. */
const SQLITE_IN_PROJECT = /['"]NAME['"]\s*:\s*(?:BASE_DIR\s*\/\s*['"][^'"]+['"]|os\.path\.join\(\s*BASE_DIR\s*,\s*['"][^'"]+['"]\s*\))/;

/** Debian's package for each framework init recognises. */
const FRAMEWORK_DEB: Partial<Record<Candidate['framework'], string>> = {
  flask: 'python3-flask',
  django: 'python3-django',
  fastapi: 'python3-fastapi',
  starlette: 'python3-starlette',
  quart: 'python3-quart',
  falcon: 'python3-falcon',
  bottle: 'python3-bottle',
  pyramid: 'python3-pyramid',
  cherrypy: 'python3-cherrypy3',
  aiohttp: 'python3-aiohttp',
  tornado: 'python3-tornado',
  webpy: 'python3-webpy',
  hug: 'python3-hug',
};

function* pythonFiles(dir: string, depth: number): Generator<string> {
  if (depth < 0) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory() && !SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) yield* pythonFiles(join(dir, e.name), depth - 1);
    else if (e.isFile() && e.name.endsWith('.py')) yield join(dir, e.name);
  }
}

function moduleName(root: string, file: string): { module: string; inSrc: boolean } | null {
  const parts = relative(root, file).replace(/\.py$/, '').split(sep);
  if (parts[parts.length - 1] === '__init__') parts.pop();
  // The src layout (src/myapp/wsgi.py, src itself no package): the module is myapp.wsgi, imported
  // with src/ on sys.path, as its own code expects (`from myapp import ...`).
  const inSrc = parts.length > 1 && parts[0] === 'src' && !existsSync(join(root, 'src', '__init__.py'));
  if (inSrc) parts.shift();
  if (parts.length === 0 || !parts.every((p) => /^[A-Za-z_]\w*$/.test(p))) return null;
  return { module: parts.join('.'), inSrc };
}

/**
 * The module's text with the bodies of its top-level `with` blocks moved to column 0: a name
 * assigned there is a module attribute all the same, as Pyramid's scaffolds assign theirs
 * (`with Configurator() as config: ... app = config.make_wsgi_app()`, issue 13), so the
 * module-level patterns above find it whatever its name. A line under a def, a class, an `if`
 * (`__main__`'s) or any other block stays indented, out of their reach: no module attribute.
 */
function withBodiesDedented(text: string): string {
  // The blocks open above a line: each header's indentation, and whether it is a `with`.
  const open: Array<{ indent: number; isWith: boolean }> = [];
  return text
    .split('\n')
    .map((line) => {
      const code = line.replace(/#.*/, '').trimEnd();
      if (code.trim() === '') return line;
      const indent = /^[ \t]*/.exec(code)![0].length;
      while (open.length > 0 && open[open.length - 1].indent >= indent) open.pop();
      const inWithsOnly = indent > 0 && open.length > 0 && open[0].indent === 0 && open.every((b) => b.isWith);
      if (code.endsWith(':')) open.push({ indent, isWith: /^\s*(async\s+)?with\b/.test(code) });
      return inWithsOnly ? line.trimStart() : line;
    })
    .join('\n');
}

export function findCandidates(root: string): Candidate[] {
  const found: Candidate[] = [];
  for (const file of pythonFiles(root, 3)) {
    const named = moduleName(root, file);
    if (!named) continue;
    const { module: mod, inSrc } = named;
    let text: string;
    try {
      text = withBodiesDedented(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    const framework = (FRAMEWORK_IMPORT.exec(text)?.[1] ?? 'plain') as Candidate['framework'];
    const depthPenalty = mod.split('.').length;
    // A Django project has both wsgi.py and asgi.py: WSGI stays the default, as Django's docs have it,
    // unless asgi.py routes websockets to Channels' consumers, which WSGI would answer with 501.
    const channels = CHANNELS_ROUTER.test(text);
    const fileBonus = channels ? 25 : /(^|\.)wsgi$/.test(mod) ? 20 : /(^|\.)asgi$/.test(mod) ? 15 : /(^|\.)(app|main|server)$/.test(mod) ? 10 : 0;
    const asgiFile = /(^|\.)asgi$/.test(mod) || /get_asgi_application\s*\(/.test(text) || channels;
    const at = (object: string, score: number, kind: Candidate['kind'], fw: Candidate['framework']): void => {
      found.push({ module: mod, object, score: score + fileBonus - depthPenalty, kind, framework: fw, ...(inSrc ? { inSrc } : {}) });
    };
    // `app = Flask(...)`, and annotated as typed code writes it: `app: FastAPI = FastAPI()`.
    let made: { object: string; kind: Candidate['kind']; framework: Framework } | undefined;
    for (const entry of FRAMEWORK_APPS) {
      const match = entry.when === undefined || entry.when.test(text) ? entry.pattern.exec(text) : null;
      if (match) {
        made = { object: `${match[1]}${entry.served ?? ''}`, kind: entry.kind, framework: entry.framework };
        break;
      }
    }
    if (HUG_ROUTES.test(text)) at('__hug_wsgi__', 40, 'wsgi', 'hug');
    // `application = web.application(...)` names web.py's app, whose WSGI callable is its wsgifunc().
    if (APPLICATION.test(text) && made?.object.startsWith('application.') !== true) {
      const kind = made?.object === 'application' ? made.kind : asgiFile || /^async\s+def application\s*\(/m.test(text) ? 'asgi' : 'wsgi';
      at('application', 50, kind, made?.object === 'application' ? made.framework : framework);
    }
    if (made && made.object !== 'application' && made.object !== 'app' && wrappedAsApp(text, made.object)) {
      at('app', 42, made.kind, made.framework);
      at(made.object, 40, made.kind, made.framework);
    } else if (made && made.object !== 'application') at(made.object, 40, made.kind, made.framework);
    else if (/^async\s+def app\s*\(/m.test(text)) at('app', 30, 'asgi', framework);
    else if (APP.test(text)) at('app', 20, asgiFile ? 'asgi' : 'wsgi', framework);
    else if (FACTORY.test(text)) at(`${FACTORY.exec(text)![1]}()`, 35, framework === 'tornado' ? 'command' : 'wsgi', framework);
    else if (DEF_APP.test(text)) at('app', 25, 'wsgi', framework);
    else if (WSGI_SIGNATURE.test(text)) at(WSGI_SIGNATURE.exec(text)![1], 15, 'wsgi', framework);
    else {
      // Below what a module makes itself: `from myapp import app` in a run.py names the app
      // that myapp/__init__.py makes, found there already.
      const imported = importedNames(text);
      if (imported.has('application')) at('application', 45, asgiFile ? 'asgi' : 'wsgi', framework);
      else if (imported.has('app')) at('app', 18, asgiFile ? 'asgi' : 'wsgi', framework);
    }
  }
  // One object may be found twice over (`def application(environ, start_response)` by its name
  // and by its signature): the app.yaml would list the object it picked as another candidate.
  const seen = new Set<string>();
  return found
    .sort((a, b) => b.score - a.score)
    .filter((c) => {
      const key = `${c.module}:${c.object}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/** A module-level call assigned to a name (`name = Wrapper(`), its parenthesis the last character matched. */
const CALL_ASSIGNMENT = /^(\w+)\s*(?::\s*[\w.\[\], |]+?\s*)?=(?!=)\s*[A-Za-z_][\w.]*\s*\(/gm;

/**
 * Whether the module's `app` is `object` wrapped in middleware, directly or through other
 * names (`app = Deny(api)`, `app = socketio.ASGIApp(sio, other_asgi_app=api)`, a call over
 * several lines): the wrapper is what a server must be given, as uvicorn is given `main:app`.
 * An argument's text is read up to the call's closing parenthesis; `settings.api` is no mention.
 */
function wrappedAsApp(text: string, object: string): boolean {
  // A string's text mentions no name, and its parentheses open no call.
  const code = text.replace(/(['"])(?:\\.|(?!\1)[^\\\n])*\1/g, (literal) => literal[0] + ' '.repeat(literal.length - 2) + literal[0]);
  const wrappers = new Map<string, string[]>();
  for (const match of code.matchAll(CALL_ASSIGNMENT)) {
    const start = match.index! + match[0].length;
    let depth = 1;
    let end = start;
    for (; end < code.length && depth > 0; end++) {
      if (code[end] === '(') depth++;
      else if (code[end] === ')') depth--;
    }
    // The names the arguments read: not a keyword's own name (`app=`), not an attribute (`.api`).
    for (const name of code.slice(start, end - 1).matchAll(/(?<![\w.])([A-Za-z_]\w*)\b(?!\s*=(?!=))/g)) {
      wrappers.set(name[1], [...(wrappers.get(name[1]) ?? []), match[1]]);
    }
  }
  const seen = new Set([object]);
  const next = [object];
  while (next.length > 0) {
    for (const wrapper of wrappers.get(next.pop()!) ?? []) {
      if (wrapper === 'app') return true;
      if (!seen.has(wrapper)) {
        seen.add(wrapper);
        next.push(wrapper);
      }
    }
  }
  return false;
}

/** The names `from ... import ...` lines bind at module level (the `as` name where one is given). */
function importedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(FROM_IMPORT)) {
    for (const item of match[1].split(',')) {
      const words = item.trim().split(/\s+/);
      const bound = words.length === 3 && words[1] === 'as' ? words[2] : words[0];
      if (bound) names.add(bound);
    }
  }
  return names;
}

/**
 * The top-level modules the project's files import that it does not hold itself (its own
 * packages and modules, at the root or under src/), in the order first met.
 */
export function thirdPartyImports(root: string): string[] {
  const own = new Set<string>();
  for (const dir of [root, join(root, 'src')]) {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) own.add(e.isDirectory() ? e.name : e.name.replace(/\.py$/, ''));
    } catch {
      // no src/
    }
  }
  const modules: string[] = [];
  for (const file of pythonFiles(root, 3)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of text.matchAll(IMPORTS)) {
      const names = match[2] !== undefined ? [match[2]] : match[1].split(',').map((item) => item.trim().split(/[\s.]/)[0]);
      for (const name of names) if (/^[A-Za-z_]\w*$/.test(name) && !own.has(name) && !modules.includes(name)) modules.push(name);
    }
    for (const name of djangoListedModules(text)) if (!own.has(name) && !modules.includes(name)) modules.push(name);
  }
  return modules;
}

/**
 * The top-level modules a Django settings module names as strings, which Django imports and no
 * `import` line does: INSTALLED_APPS' and MIDDLEWARE's (`'debug_toolbar'`,
 * `'debug_toolbar.middleware.DebugToolbarMiddleware'`), whose packages deb: must list too.
 */
function djangoListedModules(text: string): string[] {
  const names: string[] = [];
  for (const list of text.matchAll(/^(?:INSTALLED_APPS|MIDDLEWARE)\s*=\s*[[(]([^\])]*)[\])]/gm)) {
    for (const entry of list[1].replace(/#.*/g, '').matchAll(/['"]([A-Za-z_]\w*)[\w.]*['"]/g)) if (!names.includes(entry[1])) names.push(entry[1]);
  }
  return names;
}

/**
 * How the app gets its requirements.txt: `pip:` (a virtualenv built at install) with the other
 * way, bundled in vendor/ by `apppkg-gateway vendor` (issue 19), offered beside it; or
 * `paths: [vendor/]` when vendor has filled that directory already.
 */
function requirementsLines(root: string, hasRequirements: boolean, srcPaths: string[]): string[] {
  const paths = (more: string[]) => `paths: [${[...srcPaths, ...more].join(', ')}]`;
  const own = srcPaths.length > 0 ? ['# The directories the app imports from, before the interpreter\'s own:', paths([])] : [];
  if (!hasRequirements) return [...own, '# A requirements file, installed into a per-app virtualenv by `apppkg-gateway install`:', '# pip: requirements.txt'];
  const bundle = [
    'bundled with the app instead (no virtualenv, no network where it is deployed):',
    '# `apppkg-gateway vendor` installs requirements.txt into vendor/, which you commit (docs/vendor.md).',
  ];
  if (existsSync(join(root, 'vendor', '.apppkg-vendor.json'))) {
    return [
      `# The requirements, ${bundle[0]}`,
      bundle[1],
      paths(['vendor/']),
      '# Or installed into a per-app virtualenv by `apppkg-gateway install`:',
      '# pip: requirements.txt',
    ];
  }
  return [
    ...own,
    '# Installed into a per-app virtualenv by `apppkg-gateway install`.',
    'pip: requirements.txt',
    `# Or ${bundle[0]}`,
    `${bundle[1]} Then use, instead of pip:`,
    `# ${paths(['vendor/'])}`,
  ];
}

/**
 * The Django settings file whose database lives in the project directory (startproject's
 * default): a new version, a directory of its own, would start with an empty database.
 */
export function sqliteInProject(root: string): string | null {
  return settingsFileMatching(root, SQLITE_IN_PROJECT);
}

/** A view module (views.py, or a file under views/) with an `async def`: the first one found, relative to `root`. */
function asyncViews(root: string): string | null {
  return projectFileMatching(root, /^\s*async\s+def\s/m, (file) => file.endsWith(`${sep}views.py`) || file.includes(`${sep}views${sep}`));
}

/**
 * The first of the project's files (relative to `root`) whose text `pattern` matches, of those
 * `among` takes (every Python file by default).
 */
function projectFileMatching(root: string, pattern: RegExp, among: (file: string) => boolean = () => true): string | null {
  for (const file of pythonFiles(root, 3)) {
    if (!among(file)) continue;
    try {
      if (pattern.test(readFileSync(file, 'utf8'))) return relative(root, file);
    } catch {
      // unreadable: nothing to say about it
    }
  }
  return null;
}

/**
 * The Django settings file that gives Channels the in-memory channel layer: a group lives in
 * one process, and the gateway runs 2 workers unless told otherwise, so a message sent to a
 * group reaches only the sockets held by the sender's worker (as under several daphne processes).
 */
export function inMemoryLayer(root: string): string | null {
  return settingsFileMatching(root, IN_MEMORY_LAYER);
}

function settingsFileMatching(root: string, pattern: RegExp): string | null {
  return projectFileMatching(root, pattern, (file) => file.endsWith('settings.py') || file.includes(`${sep}settings${sep}`));
}

/** The environment file's entry that gives the app in `root` one worker, under the name it will have. */
const oneWorker = (root: string) => `apps: {${nameToWriteFor(basename(root))?.name ?? parsePackageDirName(basename(root)).name}: {workers: 1}}`;

/**
 * The framework the project's other files import, when the app's own file imports none: a
 * Pyramid project's wsgi.py calls its package's `main()` (`application = main({})`), which
 * imports pyramid.
 */
function projectFramework(root: string): Candidate['framework'] {
  for (const file of pythonFiles(root, 3)) {
    try {
      const framework = FRAMEWORK_IMPORT.exec(readFileSync(file, 'utf8'))?.[1];
      if (framework !== undefined) return framework as Candidate['framework'];
    } catch {
      // unreadable: nothing to say about it
    }
  }
  return 'plain';
}

const SQLITE_FIX = "'NAME': os.path.join(os.environ.get('APPPKG_DATA_DIR', BASE_DIR), 'db.sqlite3')";

/**
 * `importedDebs`: the Debian packages from which the system interpreter imports what the
 * project imports (its Flask extensions, Django REST framework, mercurial), listed after the
 * framework's.
 */
export function renderAppYaml(root: string, candidates: Candidate[], importedDebs: readonly string[] = []): string {
  const best = candidates[0];
  const hasRequirements = existsSync(join(root, 'requirements.txt'));
  const isDjango = existsSync(join(root, 'manage.py')) || best.framework === 'django';
  const frameworkDeb = FRAMEWORK_DEB[best.framework] ?? (isDjango ? FRAMEWORK_DEB.django! : FRAMEWORK_DEB[projectFramework(root)] ?? null);
  // An aiohttp app is run by gunicorn, with aiohttp's worker class (ownServerLines); a Tornado app by Tornado.
  const serverDeb = best.kind === 'command' && best.framework === 'aiohttp' ? ['python3-gunicorn'] : [];
  const debs = [...new Set([...(frameworkDeb === null ? [] : [frameworkDeb]), ...serverDeb, ...importedDebs])];
  const deb = debs.length === 0 ? null : debs.length === 1 ? debs[0] : `[${debs.join(', ')}]`;
  const others = candidates.slice(1, 4).map((c) => `${c.module}:${c.object}`);
  const lines = [
    `# app.yaml for ${basename(root)}, written by \`apppkg-gateway init\`. See README "The description".`,
    '# Check it with `apppkg-gateway check`, serve it with `apppkg-gateway serve`.',
    `platform: python, ${best.kind}`,
    '',
  ];
  // Without it, check and the gateway would refuse the default name this directory gives.
  const written = nameToWriteFor(basename(root));
  if (written !== null) {
    const { name, standIn } = written;
    const why = standIn
      ? `the directory's, ${JSON.stringify(basename(root))}, has no ASCII letter or digit to make one of (a name is ASCII: a URL path, a host label, a file name); write your own here`
      : `the directory's, ${JSON.stringify(basename(root))}, is not one`;
    lines.push(`# The app's name (its URL /${name}, its data); ${why}.`, `name: ${/^[A-Za-z_][\w.-]*$/.test(name) && !/^(true|false|null)$/i.test(name) ? name : JSON.stringify(name)}`, '');
  }
  lines.push(
    '# The interpreter: a PEP 440 specifier matched against the pythons this host has.',
    'python: ">=3.9"',
    '',
  );
  if (best.kind === 'command') {
    lines.push(...ownServerLines(best));
  } else {
    lines.push(
      `# The ${best.kind.toUpperCase()} callable, as module:object (the module is imported with ${best.inSrc ? 'src/ (paths, below)' : 'this directory'} on sys.path).`,
      `app: ${best.module}:${best.object}`,
    );
    if (best.framework === 'webpy') lines.splice(lines.length - 1, 0, `# web.py's application object is not a WSGI callable itself: each worker calls its wsgifunc() once and serves what it returns.`);
    else if (best.framework === 'hug') lines.splice(lines.length - 1, 0, `# hug makes each module that declares routes a WSGI app, __hug_wsgi__ (as \`gunicorn ${best.module}:__hug_wsgi__\` serves it).`);
    else if (best.object.endsWith('()')) lines.splice(lines.length - 1, 0, `# ${best.object} is an application factory: each worker calls it once and serves what it returns.`);
  }
  if (others.length > 0) lines.push(`# other candidates found: ${others.join(', ')}`);
  lines.push('');
  if (deb) {
    lines.push(
      '# System packages (Debian); listing any runs the app on the system interpreter, where they are importable.',
      `deb: ${deb}`,
      '',
    );
  } else {
    lines.push('# System packages, if the app needs any (Debian / rpm hosts):', '# deb: python3-something', '');
  }
  lines.push(...requirementsLines(root, hasRequirements, best.inSrc ? ['src/'] : []), '');
  const database = projectFileMatching(root, READS_DATABASE_URL);
  if (database !== null) {
    lines.push(
      `# ${database} reads DATABASE_URL: the gateway gives the app a database of its own there, PostgreSQL`,
      '# where the environment file names a server, else SQLite in its data directory (README "Services").',
      'services:',
      '  database: sql',
      '',
    );
  }
  lines.push(
    '# Settings the host must inject as environment variables; missing ones refuse to start.',
    database === null ? '# settings: [SECRET_KEY, DATABASE_URL]' : '# settings: [SECRET_KEY]',
    '',
    '# Files served by the gateway itself, never reaching Python:',
    ...staticLines(root),
    '',
    '# A path the gateway probes before sending traffic to a new worker:',
    '# health: /healthz',
    '',
    '# Lifecycle hooks, each a shell command run in the app\'s environment:',
  );
  const sqlite = isDjango ? sqliteInProject(root) : null;
  if (sqlite !== null) {
    lines.push(
      `# ${sqlite} keeps its SQLite database in this directory, which is one version: the next`,
      '# version would migrate a new, empty one. Keep it in the data directory, which outlives versions:',
      `#   ${SQLITE_FIX}`,
      '# or ask for a database (services: {database: sql}) and read DATABASE_URL.',
    );
  }
  const layer = isDjango ? inMemoryLayer(root) : null;
  if (layer !== null) {
    lines.push(
      `# ${layer} gives Channels the InMemoryChannelLayer, whose groups live in one process: with the`,
      '# 2 workers the gateway starts by default, a group message reaches only the sockets of the',
      `# sender's worker. Give the app one worker in the environment file, ${oneWorker(root)},`,
      '# or a layer all workers share (channels_redis, with services: {redis: redis}).',
    );
  }
  const socketIo = projectFileMatching(root, SOCKETIO_SERVER);
  if (socketIo !== null) lines.push(...socketIoLines(root, socketIo));
  if (isDjango && existsSync(join(root, 'manage.py'))) {
    lines.push('commands:', '  install: python manage.py migrate --noinput', '  update: python manage.py migrate --noinput', '  test: python manage.py test');
  } else {
    lines.push('# commands:', '#   install: python -m myapp.setup', '#   test: python -m unittest discover -s tests');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Socket.IO keeps a client's session in the process that made it, and the gateway picks a worker
 * per request: with its 2 default workers a client's next long poll gets `400 Invalid session`.
 * Under WSGI its clients stay on long-polling (a websocket gets 501); its own server, as a
 * process routed /socket.io, takes the websocket transport (README "Socket.IO").
 */
function socketIoLines(root: string, file: string): string[] {
  return [
    `# ${file} runs a Socket.IO server, which keeps each client's session in the process that made it:`,
    `# with the 2 workers the gateway starts by default, a client's next poll may reach the other`,
    `# one ("Invalid session"). Give the app one worker in the environment file, ${oneWorker(root)}`,
    '# (serve --workers 1). Under WSGI its clients stay on long-polling; for the websocket transport,',
    "# run Socket.IO's own server as a process with route: /socket.io (README \"Socket.IO\").",
  ];
}

/**
 * An aiohttp app is neither WSGI nor ASGI: gunicorn serves it with aiohttp's worker class, as
 * aiohttp's deployment docs have it, given the app object as it is. A Tornado app is neither
 * either, and its own `__main__` listens on a port of its choosing: Tornado's server is started
 * on $PORT as Tornado's docs start it (`listen` in `asyncio.run`), on the object or what the
 * factory returns. (gunicorn's tornado worker wraps a factory's Application as WSGI: a TypeError
 * at each request, gunicorn 20.1 with Tornado 6.2.)
 */
function ownServerLines(best: Candidate): string[] {
  const mountLines = [
    '# It gets the full path, its mount included (/NAME under --apps): serve it at a host\'s root',
    '# (hosts: in the environment file) or add its routes under $APPPKG_MOUNT (README "Processes").',
  ];
  if (best.framework === 'tornado') {
    return [
      `# ${best.module}:${best.object} is a Tornado app, neither WSGI nor ASGI: Tornado's own server runs it, on $PORT.`,
      ...mountLines,
      ...tornadoProcessLines(best.module, best.object),
    ];
  }
  return [
    `# ${best.module}:${best.object} is an aiohttp app, neither WSGI nor ASGI: its own server runs it, on $PORT.`,
    ...mountLines,
    'processes:',
    '  web:',
    `    command: exec gunicorn -k aiohttp.GunicornWebWorker -b 127.0.0.1:$PORT ${best.module}:${best.object}`,
  ];
}

/**
 * Bottle's hello world: routes declared with the module-level `@route` (`from bottle import
 * route, run`), so they go to Bottle's default app, which no name of the module holds; the
 * refusal then says what line to add.
 */
function bottleDefaultApp(root: string): { bottleFile: string } | Record<string, never> {
  for (const file of pythonFiles(root, 3)) {
    try {
      const text = readFileSync(file, 'utf8');
      if (/^\s*(?:from|import)\s+bottle\b/m.test(text) && /^@(?:bottle\.)?(?:route|get|post|put|delete|patch)\s*\(/m.test(text)) {
        return { bottleFile: relative(root, file) };
      }
    } catch {
      // unreadable: nothing to say about it
    }
  }
  return {};
}

/**
 * Pyramid's project layout (its cookiecutter's, pcreate's): the package's
 * `main(global_config, **settings)`, which PasteDeploy calls from an .ini file, and no
 * module-level app to name; the refusal then says what wsgi.py to add.
 */
function pasteFactory(root: string): { pasteFile: string; pasteModule: string } | Record<string, never> {
  for (const file of pythonFiles(root, 3)) {
    const named = moduleName(root, file);
    try {
      const text = readFileSync(file, 'utf8');
      if (named && /^\s*(?:from|import)\s+pyramid\b/m.test(text) && /^def main\s*\(\s*global_config\b/m.test(text)) {
        return { pasteFile: relative(root, file), pasteModule: named.module };
      }
    } catch {
      // unreadable: nothing to say about it
    }
  }
  return {};
}

/** `static:` with what the project has to serve (project-static.ts), else the mapping commented out as an example. */
function staticLines(root: string): string[] {
  const config = pecanConfig(root).pecanConfig ?? null;
  const mappings = projectStatic(root, config);
  const unmapped = unmappedLines(pecanUnmappedFiles(root, config), (mappings.find((m) => m.prefix === '/images') ?? mappings.find((m) => m.prefix !== '/static'))?.prefix);
  if (mappings.length === 0) return [...unmapped, '# static:', '#   /static: static/'];
  const pecan = mappings.some((m) => m.prefix !== '/static' || m.dir !== 'static/');
  return [
    ...(pecan ? ["# Pecan's static_root, which Pecan itself serves only with debug: True, each directory at its name:"] : []),
    'static:',
    ...mappings.map((m) => `  ${m.prefix}: ${m.dir}`),
    ...unmapped,
  ];
}

/**
 * What is left unserved of a Pecan static_root, `files`, and the ways to serve it: a `static:`
 * prefix maps a directory, never `/`; `prefix` is one mapped of the static_root's directories.
 * A crawler reads /robots.txt alone, so that one is the app's to answer (Pecan takes the `.txt`
 * of /robots.txt as the content type asked for and routes `robots` to the method of that name);
 * a page's icon may be linked from anywhere.
 */
function unmappedLines(files: string[], prefix: string | undefined): string[] {
  if (files.length === 0) return [];
  const names = new Set(files.map((f) => f.slice(f.lastIndexOf('/') + 1)));
  const into = prefix === undefined ? `into a directory of ${files[0].slice(0, files[0].lastIndexOf('/'))}/ mapped under static:` : 'into a directory mapped above';
  const icon = names.has('favicon.ico') ? ` (<link rel="icon" href="${prefix ?? '/DIR'}/favicon.ico">)` : '';
  const robots = names.has('robots.txt') ? ": a RootController method `robots`, exposed with @expose(content_type='text/plain'), answers /robots.txt" : '';
  return commentLines(`Not served: ${files.join(', ')}: static: maps directories, at a prefix other than /, and Pecan serves its static_root only with debug: True. Move such a file ${into} and link it there${icon}, or answer its URL from the app${robots}.`);
}

/** `text` as comment lines of at most 96 characters, broken between words. */
function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length > 1 && line.length + 1 + word.length > 96) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/**
 * Pecan's project layout (`pecan create`'s): config.py's `app = {'root': ...}`, which `pecan
 * serve config.py` and `gunicorn_pecan` load, and no module-level app; the refusal then says
 * what wsgi.py to add (pecan.deploy's `deploy(config.py)`, as Pecan's mod_wsgi recipe has it).
 */
function pecanConfig(root: string): { pecanConfig: string } | Record<string, never> {
  const config = projectFileMatching(root, /^app\s*=\s*\{[^}]*['"]root['"]\s*:/m);
  if (config === null || !config.endsWith('config.py') || projectFileMatching(root, /^\s*(?:from|import)\s+pecan\b/m) === null) return {};
  return { pecanConfig: config };
}

export async function run(args: ParsedCommand): Promise<number> {
  const root = resolve(args.positionals[0] ?? '.');
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new GatewayError('APPPKG_INIT_NO_DIR', { dir: root });
  }
  const file = join(root, 'app.yaml');
  if (existsSync(file) && args.values.force !== true) throw new GatewayError('APPPKG_INIT_EXISTS', { file, dir: args.positionals[0] ?? '.' });
  // `app.yml` beside it: an app.yaml written now would be read instead, two descriptions that
  // differ in one letter. --force overwrites app.yaml; it does not make a second description.
  if (!existsSync(file)) {
    const misnamed = misnamedDescriptionError(root);
    if (misnamed !== null) throw misnamed;
  }
  const found = findCandidates(root);
  if (found.length === 0) throw new GatewayError('APPPKG_INIT_NO_APP', { dir: root, ...pasteFactory(root), ...bottleDefaultApp(root), ...pecanConfig(root) });
  // `app: site:app` could never import the project's site.py: such a candidate is no candidate.
  const stdlibNamed = (c: Candidate) => stdlibNameProblem([c.inSrc ? join(root, 'src') : root], `${c.module}:${c.object}`, { init: true });
  const candidates = found.filter((c) => stdlibNamed(c) === null);
  if (candidates.length === 0) throw stdlibNamed(found[0])!;
  // With a requirements.txt, pip gives what the app imports; without one, the host's packages do.
  const importedDebs = existsSync(join(root, 'requirements.txt')) ? [] : await systemPackagesOf(thirdPartyImports(root));
  writeFileSync(file, renderAppYaml(root, candidates, importedDebs));
  const best = candidates[0];
  const served = best.kind === 'command' ? `processes.web: ${best.module}:${best.object} ${best.framework === 'tornado' ? "on Tornado's server, a Tornado app" : 'under gunicorn, an aiohttp app'}` : `app: ${best.module}:${best.object}, ${best.kind.toUpperCase()}`;
  process.stdout.write(`wrote ${file} (${served})\n`);
  const sqlite = sqliteInProject(root);
  if (sqlite !== null) {
    process.stdout.write(
      `note: ${sqlite} keeps the SQLite database in the app directory, and each version is a directory of its own: ` +
        `a new version would start with an empty database. Keep it in the data directory: ${SQLITE_FIX} (or services: {database: sql}, DATABASE_URL)\n`,
    );
  }
  const layer = inMemoryLayer(root);
  if (layer !== null) {
    process.stdout.write(
      `note: ${layer} gives Channels the InMemoryChannelLayer, whose groups live in one process: give the app one worker ` +
        `(${oneWorker(root)} in the environment file; \`serve --workers 1\`) or a shared layer (channels_redis)\n`,
    );
  }
  const socketIo = projectFileMatching(root, SOCKETIO_SERVER);
  if (socketIo !== null) {
    process.stdout.write(
      `note: ${socketIo} runs a Socket.IO server, whose sessions live in one process: give the app one worker ` +
        `(${oneWorker(root)} in the environment file; \`serve --workers 1\`), or its clients' polls get "Invalid session"\n`,
    );
  }
  // WSGI stays Django's default (the comment in findCandidates), but async views under it run one
  // at a time per thread, through asgiref: a project that has them is told its asgi.py is there.
  const asgi = best.kind === 'wsgi' && best.framework === 'django' ? candidates.find((c) => c.kind === 'asgi' && c.framework === 'django') : undefined;
  const views = asgi === undefined ? null : asyncViews(root);
  if (asgi !== undefined && views !== null) {
    process.stdout.write(
      `note: ${views} has async views, which WSGI runs one at a time per thread; to serve them on an event loop, ` +
        `write platform: python, asgi and app: ${asgi.module}:${asgi.object} in app.yaml (its asgi.py)\n`,
    );
  }
  process.stdout.write(`next: apppkg-gateway check ${args.positionals[0] ?? '.'}\n`);
  if (existsSync(join(root, 'requirements.txt')) && !existsSync(join(root, 'vendor', '.apppkg-vendor.json'))) {
    // The third way beside deb: and pip: (issue 19), offered where it applies.
    process.stdout.write(
      `or bundle requirements.txt with the app (no virtualenv, no network where it is deployed): apppkg-gateway vendor ${args.positionals[0] ?? '.'}, ` +
        `then \`paths: [${candidates[0].inSrc ? 'src/, ' : ''}vendor/]\` instead of \`pip:\` in app.yaml (docs/vendor.md)\n`,
    );
  }
  return 0;
}
