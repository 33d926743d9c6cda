// How the gateway starts pip: `python -c PIP_MAIN ARGS`, which is `python -m pip ARGS` with its
// user agent made when pip first sends a request instead of when it builds its session. pip
// (20 to 24) builds its session for every `install`, --no-index and a --find-links directory
// included, and its user agent then runs `lsb_release -a` (a shell script of seven processes on
// Debian), `uname -rs` and `rustc --version` (through rustup's proxy, where there is one) and
// scans every distribution on sys.path for setuptools' version, pkg_resources imported for it:
// a second of CPU of the two a `vendor` run's pip spends, for a header that an offline install
// never sends. A request still carries pip's own user agent, made by pip's own function,
// rustc's version in it (what an index reads to serve a wheel); pip's output is unchanged.
// rustc and lsb_release stay on the PATH: a build backend may need them.
//
// The names replaced are pip's internals (`user_agent` in pip._internal.network.session, which
// PipSession.__init__ calls, and PipSession.request, through which every request goes). A pip
// where they are not as expected runs as `-m pip` would, making its user agent at the start.
// Until the first request the header is "pip/VERSION", the start of the one pip makes, an object
// of its own that the request recognises by identity (requests refuses a str subclass).
// The warning filter is the one pip's __main__ sets before it imports its own modules, set here
// because the session module is imported first.
/**
 * The first lines of a `python -c` program that imports pip. `-c` puts the working directory
 * first on sys.path, and pip runs in the requirements file's directory (its relative paths are
 * the user's), or `vendor` in the app's: an app's own email.py, logging.py or json.py was
 * imported by pip in place of the standard library's, and the install failed with whatever that
 * module did. The entry is dropped before anything else is imported (`sys` is built in).
 */
export const NO_WORKING_DIRECTORY_ON_PATH = ['import sys', 'if sys.path and sys.path[0] == "":', '    del sys.path[0]'];

const PIP_MAIN = [
  ...NO_WORKING_DIRECTORY_ON_PATH,
  'import runpy, warnings',
  'warnings.filterwarnings("ignore", category=DeprecationWarning, module=".*packaging\\\\.version")',
  'try:',
  '    import pip',
  '    from pip._internal.network import session',
  '    made, send = session.user_agent, session.PipSession.request',
  'except Exception:',
  '    pass',
  'else:',
  '    deferred = "pip/%s" % pip.__version__',
  '    def request(self, *args, **kwargs):',
  '        if self.headers.get("User-Agent") is deferred:',
  '            self.headers["User-Agent"] = made()',
  '        return send(self, *args, **kwargs)',
  '    session.user_agent = lambda: deferred',
  '    session.PipSession.request = request',
  'runpy.run_module("pip", run_name="__main__", alter_sys=True)',
].join('\n');

/** The arguments of `python` that run pip with `args`, as `python -m pip ...args` does. */
export function pipCommandArgs(args: readonly string[]): string[] {
  return ['-c', PIP_MAIN, ...args];
}
