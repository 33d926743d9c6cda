// Which of a project's modules Python's standard library hides: `import site` gives the
// stdlib's site.py, already imported when the interpreter started, never the project's, and a
// project's email.py that does import first breaks every library that imports email (init and
// check, so that neither proposes nor passes `app: site:app`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.js';

/**
 * The standard library's top-level modules on a POSIX host, from CPython 3.9 to 3.13 (the union
 * of `sys.stdlib_module_names`, which 3.9 lacks, plus 3.9's formatter, parser and symbol; the
 * Windows-only ones left out, which a Linux project may name its own): init runs no interpreter,
 * and check must say it before the import, whichever interpreter the app gets.
 */
const STDLIB_MODULES: ReadonlySet<string> = new Set([
  'abc', 'aifc', 'antigravity', 'argparse', 'array', 'ast', 'asynchat', 'asyncio', 'asyncore',
  'atexit', 'audioop', 'base64', 'bdb', 'binascii', 'binhex', 'bisect', 'builtins', 'bz2',
  'cProfile', 'calendar', 'cgi', 'cgitb', 'chunk', 'cmath', 'cmd', 'code', 'codecs', 'codeop',
  'collections', 'colorsys', 'compileall', 'concurrent', 'configparser', 'contextlib', 'contextvars',
  'copy', 'copyreg', 'crypt', 'csv', 'ctypes', 'curses', 'dataclasses', 'datetime', 'dbm', 'decimal',
  'difflib', 'dis', 'distutils', 'doctest', 'email', 'encodings', 'ensurepip', 'enum', 'errno',
  'faulthandler', 'fcntl', 'filecmp', 'fileinput', 'fnmatch', 'formatter', 'fractions', 'ftplib',
  'functools', 'gc', 'genericpath', 'getopt', 'getpass', 'gettext', 'glob', 'graphlib', 'grp',
  'gzip', 'hashlib', 'heapq', 'hmac', 'html', 'http', 'idlelib', 'imaplib', 'imghdr', 'imp',
  'importlib', 'inspect', 'io', 'ipaddress', 'itertools', 'json', 'keyword', 'lib2to3', 'linecache',
  'locale', 'logging', 'lzma', 'mailbox', 'mailcap', 'marshal', 'math', 'mimetypes', 'mmap',
  'modulefinder', 'multiprocessing', 'netrc', 'nis', 'nntplib', 'ntpath', 'nturl2path', 'numbers',
  'opcode', 'operator', 'optparse', 'os', 'ossaudiodev', 'parser', 'pathlib', 'pdb', 'pickle',
  'pickletools', 'pipes', 'pkgutil', 'platform', 'plistlib', 'poplib', 'posix', 'posixpath',
  'pprint', 'profile', 'pstats', 'pty', 'pwd', 'py_compile', 'pyclbr', 'pydoc', 'pydoc_data',
  'pyexpat', 'queue', 'quopri', 'random', 're', 'readline', 'reprlib', 'resource', 'rlcompleter',
  'runpy', 'sched', 'secrets', 'select', 'selectors', 'shelve', 'shlex', 'shutil', 'signal', 'site',
  'smtpd', 'smtplib', 'sndhdr', 'socket', 'socketserver', 'spwd', 'sqlite3', 'sre_compile',
  'sre_constants', 'sre_parse', 'ssl', 'stat', 'statistics', 'string', 'stringprep', 'struct',
  'subprocess', 'sunau', 'symbol', 'symtable', 'sys', 'sysconfig', 'syslog', 'tabnanny', 'tarfile',
  'telnetlib', 'tempfile', 'termios', 'textwrap', 'this', 'threading', 'time', 'timeit', 'tkinter',
  'token', 'tokenize', 'tomllib', 'trace', 'traceback', 'tracemalloc', 'tty', 'turtle', 'turtledemo',
  'types', 'typing', 'unicodedata', 'unittest', 'urllib', 'uu', 'uuid', 'venv', 'warnings', 'wave',
  'weakref', 'webbrowser', 'wsgiref', 'xdrlib', 'xml', 'xmlrpc', 'zipapp', 'zipfile', 'zipimport',
  'zlib', 'zoneinfo'
]);

/** The top-level name of a dotted module (`blog.wsgi` -> `blog`) is one of the standard library's. */
export function isStdlibModule(module: string): boolean {
  return STDLIB_MODULES.has(module.split('.')[0]);
}

/**
 * The project's file or package that `module`'s top-level name would find in one of `roots` (the
 * app directory, then each of `paths:`) when that name is the standard library's: `site.py` for
 * `site:app`. Null when the name is no stdlib module's, or the project holds none of that name
 * (`app: wsgiref.simple_server:demo_app` serves the stdlib's own).
 */
export function stdlibShadowedFile(roots: string[], module: string): string | null {
  const top = module.split('.')[0];
  if (!STDLIB_MODULES.has(top)) return null;
  // A directory without __init__.py is no rival: a regular package later on sys.path wins over it.
  for (const root of roots) {
    for (const file of [path.join(root, `${top}.py`), path.join(root, top, '__init__.py')]) {
      if (existsSync(file)) return file;
    }
  }
  return null;
}

/**
 * APPPKG_APP_STDLIB_NAME for `app` (`module:object`) when its module is the project's and has a
 * standard library module's name; `init` says to run init again, check to change `app:` too.
 */
export function stdlibNameProblem(roots: string[], app: string, opts: { init?: boolean } = {}): GatewayError | null {
  const module = app.split(':')[0].trim();
  const file = stdlibShadowedFile(roots, module);
  if (file === null) return null;
  const top = module.split('.')[0];
  const isPackage = path.basename(file) === '__init__.py';
  return new GatewayError('APPPKG_APP_STDLIB_NAME', {
    app,
    path: isPackage ? path.dirname(file) : file,
    top,
    rel: isPackage ? `${top}/` : `${top}.py`,
    rename: isPackage ? `${top}_app/` : `${top}_app.py`,
    ...(opts.init ? { init: true } : {}),
  });
}
