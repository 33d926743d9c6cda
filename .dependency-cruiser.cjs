// The import rules of the house (docs/architecture.md): which part may use which. Checked by
// `npm run check:imports` and by test/architecture.test.ts, type-only imports included.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: two modules that cannot be understood (or loaded) one without the other.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'supervisor-knows-no-proxy',
      severity: 'error',
      comment: 'The supervisor owns processes; which request goes where is the proxy\'s (the proxy defines what it needs, src/proxy/backend.ts).',
      from: { path: '^src/supervisor/' },
      to: { path: '^src/(proxy/|gateway[-a-z]*\\.ts$)' },
    },
    {
      name: 'proxy-knows-no-supervisor',
      severity: 'error',
      comment: 'The proxy reads upstreams through its own Backend interface; the composition root (src/gateway.ts, with src/gateway-*.ts) joins the two.',
      from: { path: '^src/proxy/' },
      to: { path: '^src/(supervisor/|gateway[-a-z]*\\.ts$)' },
    },
    {
      name: 'only-the-cli-uses-the-cli',
      severity: 'error',
      comment: 'The CLI is one client of the library: nothing below it imports from it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'link-is-below-its-users',
      severity: 'error',
      comment: 'The frames and the worker socket know neither who sends requests nor who runs workers.',
      from: { path: '^src/(link|net|description|log)/' },
      to: { path: '^src/(proxy|supervisor|admin|lifecycle)/|^src/(gateway[-a-z]*|app-package|index)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
