// The tests' pip configuration: none. install and --apps run pip with the host's pip.conf and
// PIP_* (src/lifecycle/pip-environment.ts), and a development host's (a PIP_FIND_LINKS, a mirror
// in /etc/pip.conf) would send every install test's pip to its index, pypi.org when nothing else:
// traffic off the machine, seconds of retries where DNS fails, and results that depend on the
// host. PIP_CONFIG_FILE=/dev/null makes pip read no configuration file at all (pip compares it
// with os.devnull). A test of the host's configuration sets its own, over this.

/** `env` without a PIP_* variable, and with pip reading no configuration file. */
export function withoutHostPip(env) {
  const clean = Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('PIP_')));
  return { ...clean, PIP_CONFIG_FILE: '/dev/null' };
}
