import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError, type GatewayError } from '../../src/errors.js';
import { emptyHostEnvironment, loadEnvironmentFile, MIN_MAX_MEMORY, overrideOf, overridesFor, parseSize } from '../../src/environment/host-file.js';
import { parseRedisUrl } from '../../src/services/redis-server.js';
import { ROOT } from '../helpers/process.js';

// SPEC §2, copied verbatim.
const SPEC_EXAMPLE = `settings:                       # injected into every app
  SMTP_HOST: localhost
apps:
  blog:
    settings:                   # injected into this app only
      DATABASE_URL: postgresql://blog@localhost/blog
    hosts: [blog.example.com]   # virtual hosts routed to this app
    mount: /blog                # a path prefix; it becomes SCRIPT_NAME
    workers: 2                  # Python worker processes
    threads: 8                  # concurrent requests per worker
    user: blog                  # when the gateway runs as root: the Unix user of this app's processes
                                # (default: the owner of the app directory; root only with a warning)
    max_requests: 10000         # recycle a worker after so many requests (gracefully)
    max_memory: 512MB           # recycle a worker whose RSS grows past this (gracefully)
`;

let scratch = '';
let counter = 0;
test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'apppkg-env-'));
});
test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function envFile(yaml: string): Promise<string> {
  const file = path.join(scratch, `env-${++counter}.yaml`);
  await writeFile(file, yaml);
  return file;
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (isGatewayError(err)) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, the load succeeded');
}

test('the example of SPEC §2 loads, sizes in bytes', async () => {
  const file = await envFile(SPEC_EXAMPLE);
  const env = await loadEnvironmentFile(file);
  assert.is(env.file, file);
  assert.equal(env.settings, { SMTP_HOST: 'localhost' });
  assert.equal(env.apps.blog, {
    settings: { DATABASE_URL: 'postgresql://blog@localhost/blog' },
    hosts: ['blog.example.com'],
    mount: '/blog',
    workers: 2,
    threads: 8,
    user: 'blog',
    maxRequests: 10000,
    maxMemory: 512 * 1024 * 1024,
    python: null,
    timeout: null,
    maxBody: null,
    queue: null,
    drain: null,
    idleTimeout: null,
    startTimeout: null,
    mailDomains: [],
    replicas: null,
  });
  assert.equal(env.services, { postgresql: null, redis: null });
  assert.is(env.mail, null);
});

test('mail_domains takes a _ as the mail listener does, so an app named my_app can name its default domain my_app.localhost', async () => {
  const env = await loadEnvironmentFile(await envFile('apps:\n  my_app: {mail_domains: [my_app.localhost, in_box.example.com]}\n'));
  assert.equal(overridesFor(env, 'my_app').mailDomains, ['my_app.localhost', 'in_box.example.com']);
  const one = await loadEnvironmentFile(await envFile('apps:\n  my_app: {mail_domains: my_app.localhost}\n'));
  assert.equal(overridesFor(one, 'my_app').mailDomains, ['my_app.localhost']);
  const err = await loadEnvironmentFile(await envFile('apps:\n  blog: {mail_domains: [_blog.example]}\n')).then(() => null, (e: GatewayError) => e);
  assert.is(err?.code, 'APPPKG_ENVFILE_INVALID', 'a name still begins with a letter or digit');
});

test('hosts takes a _ as mail_domains does (the default host of an app named my_app is my_app.localhost); a name still begins with a letter or digit', async () => {
  const env = await loadEnvironmentFile(await envFile('apps:\n  my_app: {hosts: [my_app.example.com, in_box.Example.com.], mail_domains: [my_app.example.com]}\n'));
  assert.equal(overridesFor(env, 'my_app').hosts, ['my_app.example.com', 'in_box.example.com']);
  const one = await loadEnvironmentFile(await envFile('apps:\n  my_app: {hosts: a_b.localhost}\n'));
  assert.equal(overridesFor(one, 'my_app').hosts, ['a_b.localhost']);
  for (const name of ['_blog.example', 'blog..example', '-blog.example']) {
    for (const key of ['hosts', 'mail_domains']) {
      const err = await loadEnvironmentFile(await envFile(`apps:\n  blog: {${key}: [${name}]}\n`)).then(() => null, (e: GatewayError) => e);
      assert.is(err?.code, 'APPPKG_ENVFILE_INVALID', `${key}: ${name}`);
    }
  }
});

test('services, mail, idle_timeout, mail_domains and replicas (SPEC 5.2, 5.3, 5.5, 5.6) load with their defaults', async () => {
  const file = await envFile([
    'services: {postgresql: "postgresql:///postgres?host=/run/pg", redis: "redis://127.0.0.1:6379"}',
    'mail: {listen: 127.0.0.1:2525, max_size: 1MB}',
    'defaults: {idle_timeout: 300}',
    'apps:',
    '  blog: {mail_domains: [Blog.Example.com.], replicas: 3, idle_timeout: 30}',
    '',
  ].join('\n'));
  const env = await loadEnvironmentFile(file);
  assert.equal(env.services, { postgresql: 'postgresql:///postgres?host=/run/pg', redis: 'redis://127.0.0.1:6379' });
  assert.equal(env.mail, { listen: '127.0.0.1:2525', lmtp: false, maxSize: 1024 * 1024, maxRecipients: 100, retry: [60, 300, 900, 3600, 14400], giveUp: 172800, timeout: 300, postmaster: null, socketOwner: null });
  const blog = overridesFor(env, 'blog');
  assert.equal([blog.mailDomains, blog.replicas, blog.idleTimeout], [['blog.example.com'], 3, 30]);
  assert.is(overridesFor(env, 'wiki').idleTimeout, 300, 'from defaults');
  const never = await loadEnvironmentFile(await envFile('defaults: {idle_timeout: 300}\napps: {blog: {idle_timeout: 0}}\n'));
  assert.is(overridesFor(never, 'blog').idleTimeout, 0, '0 (never) overrides the default');
  const bad = await envFile('mail: {lmtp: true}\napps: {blog: {idle_timeout: -1, replicas: -1}}\n');
  const err = await loadEnvironmentFile(bad).then(() => null, (e) => e);
  assert.is(err?.code, 'APPPKG_ENVFILE_INVALID');
  assert.match(err.format(), /mail/);
  assert.match(err.format(), /idle_timeout/);
  assert.match(err.format(), /replicas/);
});

test('mail.postmaster names the app that takes RCPT TO:<postmaster>; anything but an app name is refused at its line:column', async () => {
  const env = await loadEnvironmentFile(await envFile('mail:\n  listen: 2525\n  postmaster: ops\n'));
  assert.is(env.mail?.postmaster, 'ops');
  const bad = await envFile('mail:\n  listen: 2525\n  postmaster: "ops desk"\n');
  const err = await loadEnvironmentFile(bad).then(() => null, (e: GatewayError) => e);
  assert.is(err?.code, 'APPPKG_ENVFILE_INVALID');
  assert.equal(err!.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['3:15 mail.postmaster']);
  assert.match(err!.format(), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:15: mail\\.postmaster: expected an app name, e\\.g\\. ops, found "ops desk"`));
  const list = await envFile('mail: {listen: 2525, postmaster: [ops]}\n');
  const listErr = await loadEnvironmentFile(list).then(() => null, (e: GatewayError) => e);
  assert.equal(listErr!.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['1:34 mail.postmaster']);
});

test('mail.listen that is no address is refused at its line:column with the file\'s other mistakes, not when the listener binds after every app started', async () => {
  for (const [value, expected] of [
    ['99999', /:2:11: mail\.listen: expected PORT, HOST:PORT or unix:\/path, e\.g\. 127\.0\.0\.1:2525, found 99999\n  fix: write mail\.listen: 127\.0\.0\.1:2525/],
    ['"mail.example:smtp"', /:2:11: mail\.listen: expected PORT, HOST:PORT or unix:\/path, e\.g\. 127\.0\.0\.1:2525, found "mail\.example:smtp"/],
    ['unix:mail.sock', /:2:11: mail\.listen: expected unix: and an absolute path, or a relative one beginning with \.\/, found "unix:mail\.sock"\n  fix: write mail\.listen: unix:\.\/mail\.sock/],
  ] as const) {
    const err = await loadEnvironmentFile(await envFile(`mail:\n  listen: ${value}\n`)).then(() => null, (e: GatewayError) => e);
    assert.is(err?.code, 'APPPKG_ENVFILE_INVALID', value);
    assert.equal(err!.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['2:11 mail.listen'], value);
    assert.match(err!.format(), expected);
  }
  for (const good of ['2525', '127.0.0.1:2525', '"[::1]:2525"', 'unix:/run/apppkg/mail.sock', 'unix:./mail.sock']) {
    const env = await loadEnvironmentFile(await envFile(`mail:\n  listen: ${good}\n`));
    assert.is(env.mail?.listen, good.replace(/"/g, ''), good);
  }
});

test('mail.socket_owner: the user (and group) a unix: listener\'s socket is given to; beside a TCP listen, or naming no user of the host, refused at its line:column', async () => {
  const env = await loadEnvironmentFile(await envFile('mail:\n  listen: unix:/run/apppkg-gateway/lmtp.sock\n  socket_owner: root:root\n'));
  assert.is(env.mail?.socketOwner, 'root:root');
  assert.is((await loadEnvironmentFile(await envFile('mail:\n  listen: 2525\n'))).mail?.socketOwner, null);
  for (const [listen, owner, expected] of [
    ['2525', 'root', /:3:17: mail\.socket_owner: expected socket_owner only beside listen: unix:\/path \(a TCP port has no owner\), found "root"/],
    ['unix:/run/apppkg-gateway/lmtp.sock', 'no-such-user-h337', /:3:17: mail\.socket_owner: expected a user \(and group\) of this host, found "no-such-user-h337"\n  fix: write socket_owner: postfix/],
  ] as const) {
    const err = await loadEnvironmentFile(await envFile(`mail:\n  listen: ${listen}\n  socket_owner: ${owner}\n`)).then(() => null, (e: GatewayError) => e);
    assert.is(err?.code, 'APPPKG_ENVFILE_INVALID', owner);
    assert.equal(err!.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['3:17 mail.socket_owner'], owner);
    assert.match(err!.format(), expected);
  }
});

test('defaults, python and overridesFor: the app entry wins, then defaults, then the top level', async () => {
  const file = await envFile([
    'python: /usr/bin/python3',
    'settings: {SMTP_HOST: localhost, DEBUG: false}',
    'defaults:',
    '  workers: 4',
    '  timeout: 30',
    '  max_body: 10MB',
    '  python: ./py/bin/python',
    'apps:',
    '  blog:',
    '    workers: 2',
    '    settings: {DEBUG: true, PORT_BASE: 0755}',
    '    hosts: Blog.Example.com.',
    '    mount: /blog/',
    '  wiki:',
    '    python: python3.12',
    '',
  ].join('\n'));
  const env = await loadEnvironmentFile(file);
  assert.is(env.python, '/usr/bin/python3');
  assert.is(env.defaults.python, path.join(scratch, 'py/bin/python'));
  const blog = overridesFor(env, 'blog');
  assert.is(blog.workers, 2);
  assert.is(blog.timeout, 30);
  assert.is(blog.maxBody, 10 * 1024 * 1024);
  assert.is(blog.python, path.join(scratch, 'py/bin/python'));
  // Settings: the app's over the shared ones; numbers and booleans as written in the file.
  assert.equal(blog.settings, { SMTP_HOST: 'localhost', DEBUG: 'true', PORT_BASE: '0755' });
  assert.equal(blog.hosts, ['blog.example.com']);
  assert.is(blog.mount, '/blog');
  assert.is(overridesFor(env, 'wiki').python, 'python3.12');
  const other = overridesFor(env, 'other');
  assert.is(other.workers, 4);
  assert.equal(other.hosts, []);
  assert.is(other.mount, null);
  assert.is(overridesFor(env, 'constructor').workers, 4);
  // Where the chosen interpreter is written: its errors point there, not at app.yaml.
  assert.equal(blog.pythonAt, { file, line: 7, column: 11, key: 'defaults.python' });
  assert.equal(overridesFor(env, 'wiki').pythonAt, { file, line: 15, column: 13, key: 'apps.wiki.python' });
});

test('without defaults the top-level python is the fallback; no file at all is emptyHostEnvironment', async () => {
  const env = await loadEnvironmentFile(await envFile('python: /opt/py/bin/python3\n'));
  assert.is(overridesFor(env, 'blog').python, '/opt/py/bin/python3');
  assert.equal(overridesFor(env, 'blog').pythonAt?.key, 'python');
  const none = emptyHostEnvironment();
  assert.equal(overridesFor(none, 'blog').settings, {});
  assert.is(overridesFor(none, 'blog').workers, null);
  assert.is(overridesFor(none, 'blog').pythonAt, null);
});

test('a services URL of the wrong scheme is refused at its place, its password never shown', async () => {
  const err = await failure(loadEnvironmentFile(await envFile("services:\n  postgresql: 'mysql://x:SECRETPW@h/db'\n  redis: 'http://u:SECRETPW3@h:1/'\n")));
  const text = err.format();
  assert.match(text, /:2:15: services\.postgresql: .*found "mysql:\/\/x:\*\*\*@h\/db"/);
  assert.match(text, /:3:10: services\.redis: .*found "http:\/\/u:\*\*\*@h:1\/"/);
  assert.not.match(text, /SECRETPW/);
});

test('services.redis naming a unix socket is refused with what is supported: a loopback port beside it', async () => {
  for (const url of ['unix:///run/redis/redis.sock', 'redis+unix:///run/redis/redis.sock?db=1']) {
    const err = await failure(loadEnvironmentFile(await envFile(`services:\n  redis: '${url}'\n`)));
    assert.match(err.problems[0].hint, /a Redis on a unix socket alone is not supported; give it a loopback port too \(port 6379 and bind 127\.0\.0\.1 in redis\.conf\)/, url);
  }
});

// A mistyped URL is where a password is most often not where a URL keeps it: one slash after the
// scheme (`redis:/admin:pw@...`), none, or a `/` or `#` in the password itself (not
// percent-encoded), each printed whole into the gateway's log at a start or a SIGHUP.
test('a services URL mistyped around its password (one slash, no slashes, / or # in the password) never shows it', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'services:',
    "  postgresql: 'postgresql:/admin:SECRET1@localhost/postgres'",
    "  redis: 'redis:admin:SECRET2@127.0.0.1:6379/0'",
    '',
  ].join('\n'))));
  const text = err.format();
  assert.match(text, /services\.postgresql: .*found "postgresql:\/admin:\*\*\*@localhost\/postgres"/);
  assert.match(text, /services\.redis: .*found "redis:admin:\*\*\*@127\.0\.0\.1:6379\/0"/);
  assert.not.match(text, /SECRET/);
  for (const url of ['redis://admin:SEC/RET@127.0.0.1:6379/0', 'redis://admin:SEC#RET@127.0.0.1:6379/0', 'postgresql://admin:SEC/RET@localhost:5432/postgres', 'postgresql://admin:SEC#RET@localhost:5432/postgres']) {
    const kind = url.startsWith('redis') ? 'redis' : 'postgresql';
    const one = await failure(loadEnvironmentFile(await envFile(`services:\n  ${kind}: '${url}'\n`)));
    assert.not.match(one.format(), /SEC|RET/, url);
    assert.match(one.format(), /admin:\*\*\*@/, url);
  }
});

// A password holding a % that starts no escape (`Adm%x`) parsed, then broke the decoding of its
// user information: "internal error: URIError: URI malformed" from check, and every app using the
// server refused as "worker exited before it was ready". A / # or @ left as it is made the URL
// unparseable with a message that masked the password and never said why.
test('a services URL whose password is not percent-encoded is refused at its place, with how to encode it', async () => {
  for (const [kind, url, column] of [
    ['postgresql', 'postgresql://admin:SEC%xRET@/postgres?host=/run/pg', 15],
    ['redis', 'redis://admin:SEC%xRET@127.0.0.1:6379/0', 10],
    ['postgresql', 'postgresql://admin:SEC/RET@localhost:5432/postgres', 15],
    ['redis', 'redis://admin:SEC#RET@127.0.0.1:6379/0', 10],
  ] as const) {
    const err = await failure(loadEnvironmentFile(await envFile(`services:\n  ${kind}: '${url}'\n`)));
    const text = err.format();
    assert.match(text, new RegExp(`:2:${column}: services\\.${kind}: expected .*percent-encoded \\(% as %25, @ as %40, : as %3A, / as %2F, # as %23, \\? as %3F\\)`), url);
    assert.match(text, /fix: .*percent-encoded/, url);
    assert.not.match(text, /SEC|RET/, url);
  }
  const env = await loadEnvironmentFile(await envFile("services:\n  redis: 'redis://admin:SEC%25x%40%3A%2F@127.0.0.1:6379/0'\n"));
  assert.is(parseRedisUrl(env.services.redis!).password, 'SEC%x@:/');
});

test('services.postgresql: an sslmode libpq does not know is refused at its place; those it knows load', async () => {
  const err = await failure(loadEnvironmentFile(await envFile("services:\n  postgresql: 'postgresql://admin:SECRETPW@db:5432/postgres?sslmode=required'\n")));
  assert.match(err.format(), /:2:15: services\.postgresql: expected an sslmode that libpq knows: disable, allow, prefer, require, verify-ca, verify-full, found "postgresql:\/\/admin:\*\*\*@db:5432\/postgres\?sslmode=required"/);
  for (const mode of ['disable', 'prefer', 'require', 'verify-full']) {
    const env = await loadEnvironmentFile(await envFile(`services:\n  postgresql: 'postgresql://admin:pw@db:5432/postgres?sslmode=${mode}'\n`));
    assert.match(env.services.postgresql!, `sslmode=${mode}`);
  }
});

test('services.redis: a rediss:// ssl_cert_reqs redis-py does not know is refused at its place, with the values it takes; those load', async () => {
  for (const bad of ['CERT_NONE', 'None', 'require']) {
    const err = await failure(loadEnvironmentFile(await envFile(`services:\n  redis: 'rediss://admin:SECRETPW@cache:6380/0?ssl_cert_reqs=${bad}'\n`)));
    assert.match(err.format(), `:2:10: services.redis: expected an ssl_cert_reqs that redis-py knows: none, optional, required, found "rediss://admin:***@cache:6380/0?ssl_cert_reqs=${bad}"`, bad);
    assert.match(err.format(), 'fix: correct services.redis: an ssl_cert_reqs that redis-py knows: none, optional, required', bad);
  }
  for (const reqs of ['none', 'optional', 'required']) {
    const env = await loadEnvironmentFile(await envFile(`services:\n  redis: 'rediss://admin:pw@cache:6380/0?ssl_cert_reqs=${reqs}'\n`));
    assert.match(env.services.redis!, `ssl_cert_reqs=${reqs}`);
  }
});

test('a services URL\'s password given as a query parameter (libpq and redis-py read it) is not shown either', async () => {
  const err = await failure(loadEnvironmentFile(await envFile("services:\n  postgresql: 'mysql:///db?host=/run/pg&password=SECRETQ1'\n  redis: 'redis://[bad?password=SECRETQ2&db=1'\n")));
  const text = err.format();
  assert.match(text, /:2:15: services\.postgresql: .*found "mysql:\/\/\/db\?host=\/run\/pg&password=\*\*\*"/);
  assert.match(text, /:3:10: services\.redis: .*found "redis:\/\/\[bad\?password=\*\*\*&db=1"/);
  assert.not.match(text, /SECRETQ/);
});

// A database that is not a number (a typo, `/cache`) was read as 0: every app's keys went to
// database 0, and its REDIS_URL said /0, with nothing to tell the host. `?db=` was ignored alike.
test('a Redis URL\'s database: a number after the port or as ?db=, anything else refused at its place', async () => {
  const err = await failure(loadEnvironmentFile(await envFile("services:\n  redis: 'redis://admin:SECRETPW@127.0.0.1:6379/cache'\n")));
  const text = err.format();
  assert.match(text, /:2:10: services\.redis: expected a database number after the port, as in redis:\/\/127\.0\.0\.1:6379\/0, found "redis:\/\/admin:\*\*\*@127\.0\.0\.1:6379\/cache"/);
  assert.not.match(text, /SECRETPW/);
  await failure(loadEnvironmentFile(await envFile("services:\n  redis: 'redis://127.0.0.1:6379?db=two'\n")));
  for (const [url, db] of [['redis://127.0.0.1:6379', 0], ['redis://127.0.0.1:6379/', 0], ['redis://127.0.0.1:6379/2', 2], ['redis://127.0.0.1:6379?db=3', 3], ['redis://127.0.0.1:6379/2?db=3', 3]] as const) {
    const env = await loadEnvironmentFile(await envFile(`services:\n  redis: '${url}'\n`));
    assert.is(parseRedisUrl(env.services.redis!).db, db, url);
  }
});

test('a Redis URL\'s user and password as query parameters, as redis-py reads them when the user information has none', async () => {
  assert.equal(
    [parseRedisUrl('redis://127.0.0.1:6379/0?username=admin&password=pw').user, parseRedisUrl('redis://127.0.0.1:6379/0?username=admin&password=pw').password],
    ['admin', 'pw'],
  );
  const both = parseRedisUrl('redis://admin:inurl@127.0.0.1:6379/0?password=inquery');
  assert.is(both.password, 'inurl');
});

test('an empty file (or comments only) is a valid, empty environment', async () => {
  const env = await loadEnvironmentFile(await envFile('# nothing yet\n'));
  assert.equal({ ...env, file: null }, emptyHostEnvironment());
});

test('mappings left empty (their lines commented out) count as absent', async () => {
  const env = await loadEnvironmentFile(await envFile('settings:\n  # SMTP_HOST: localhost\ndefaults:\napps:\n  blog:\n    # workers: 2\n'));
  assert.equal(env.settings, {});
  assert.equal(overridesFor(env, 'blog'), overridesFor(emptyHostEnvironment(), 'blog'));
  assert.ok(Object.hasOwn(env.apps, 'blog'));
});

test('a missing file: APPPKG_ENVFILE_NOT_FOUND', async () => {
  const err = await failure(loadEnvironmentFile(path.join(scratch, 'missing.yaml')));
  assert.is(err.code, 'APPPKG_ENVFILE_NOT_FOUND');
});

test('every problem at once, each with line, column, key and a fix', async () => {
  const file = await envFile([
    'settings:',
    '  SMTP_HOST: localhost',
    '  BAD-NAME: x',
    'apps:',
    '  blog:',
    '    worker: 2',
    '    max_memory: lots',
    '    threads: 0',
    '    hosts: [blog.example.com, "not a host"]',
    '  wiki:',
    '    hosts: blog.example.com',
    '    mount: blog',
    'default:',
    '  workers: 2',
    '',
  ].join('\n'));
  const err = await failure(loadEnvironmentFile(file));
  assert.is(err.code, 'APPPKG_ENVFILE_INVALID');
  const got = err.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.key}`);
  assert.equal(got, [
    '3:3 APPPKG_DESC_BAD_VALUE settings.BAD-NAME',
    '6:5 APPPKG_DESC_UNKNOWN_KEY apps.blog.worker',
    '7:17 APPPKG_DESC_BAD_VALUE apps.blog.max_memory',
    '8:14 APPPKG_DESC_BAD_VALUE apps.blog.threads',
    '9:31 APPPKG_DESC_BAD_VALUE apps.blog.hosts[1]',
    '12:12 APPPKG_DESC_BAD_VALUE apps.wiki.mount',
    '13:1 APPPKG_DESC_UNKNOWN_KEY default',
  ]);
  assert.is(err.problems[1].details.suggestion, 'workers');
  assert.is(err.problems[6].details.suggestion, 'defaults');
  assert.match(err.problems[2].message, 'apps.blog.max_memory: expected a size like "512MB" (or a number of bytes), found "lots"');
  for (const p of err.problems) assert.match(p.format(), new RegExp(`^${file}:\\d+:\\d+: .+\\n  fix: .+$`));
});

test('a key of a section written at the top level (lmtp, redis) is refused with the section it belongs to', async () => {
  // SPEC 5.2-5.3 name `lmtp: true` and the servers as keys of "the environment file".
  const err = await failure(loadEnvironmentFile(await envFile([
    'lmtp: true',
    'redis: redis://127.0.0.1:6379',
    'mail:',
    '  listen: 2525',
    '  mail_domains: [blog.test]',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}: ${p.hint}`), [
    '1:1 lmtp: write it under mail: (mail: {lmtp: true}), the one mail listener of the gateway',
    '2:1 redis: write it under services: (services: {redis: redis://127.0.0.1:6379}), the servers every app is given from',
    '5:3 mail.mail_domains: write it under the app\'s name: apps: {NAME: {mail_domains: ...}}',
  ]);
  assert.match(err.problems[0].message, "lmtp: expected one of the known keys, found a key of mail:, not of the file's top level");
});

test('a top-level drain (SPEC 5.1 names it without a section) is every app\'s: under defaults.drain and the app\'s own', async () => {
  const env = await loadEnvironmentFile(await envFile([
    'drain: 5',
    'apps:',
    '  blog:',
    '    drain: 7',
    '  wiki: {}',
    '',
  ].join('\n')));
  assert.equal([overridesFor(env, 'blog').drain, overridesFor(env, 'wiki').drain, overridesFor(env, 'shop').drain], [7, 5, 5]);
  assert.is(overrideOf(env, 'wiki', 'drain'), 5);
  const withDefaults = await loadEnvironmentFile(await envFile('drain: 5\ndefaults:\n  drain: 6\napps:\n  blog:\n    drain: 0\n'));
  assert.equal([overridesFor(withDefaults, 'blog').drain, overridesFor(withDefaults, 'wiki').drain], [0, 6]);
  assert.is(overridesFor(await loadEnvironmentFile(await envFile('settings: {A: b}\n')), 'blog').drain, null, 'none: --grace');
  // Checked as the others are: a number of seconds, at its own line.
  const err = await failure(loadEnvironmentFile(await envFile('python: python3\ndrain: soon\n')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.key}`), ['2:8 APPPKG_DESC_BAD_VALUE drain']);
  assert.match(err.problems[0].message, 'drain: expected a number of seconds, 0 or more, found "soon"');
  const negative = await failure(loadEnvironmentFile(await envFile('drain: -1\n')));
  assert.equal(negative.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['1:8 drain']);
});

test('a setting written as a key of its own, or settings: under defaults:, is refused with where it goes, not "remove it"', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'SMTP_HOST: localhost',
    'defaults:',
    '  settings: {TZ_NAME: UTC}',
    '  LOG_LEVEL: info',
    'apps:',
    '  blog:',
    '    DATABASE_URL: postgresql://blog@localhost/blog',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}: ${p.hint}`), [
    '1:1 SMTP_HOST: write it under settings: for every app (settings: {SMTP_HOST: localhost}), or for one app under its name: apps: {NAME: {settings: {SMTP_HOST: localhost}}}',
    '3:3 defaults.settings: move it to the top level: the file\'s own settings: is given to every app (an app\'s entry under apps: adds to it or overrides it)',
    '4:3 defaults.LOG_LEVEL: write it under settings: for every app (settings: {LOG_LEVEL: info}), or for one app under its name: apps: {NAME: {settings: {LOG_LEVEL: info}}}',
    '7:5 apps.blog.DATABASE_URL: write it under the app\'s settings: apps: {blog: {settings: {DATABASE_URL: postgresql://blog@localhost/blog}}}',
  ]);
  assert.match(err.problems[0].message, 'SMTP_HOST: expected one of the known keys, found a setting (an environment variable for the apps), which goes under settings:');
});

test('a host written with its port or as a URL is refused with the bare name as the fix', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'apps:',
    '  blog:',
    '    hosts: [Blog.Example.com:8080, "https://wiki.example.com/"]',
    '    mail_domains: mail.example.com:25',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}: ${p.hint}`), [
    '3:13 apps.blog.hosts[0]: write the host name alone, Blog.Example.com: no scheme, port or path (a request is routed by its Host whatever port it names)',
    '3:36 apps.blog.hosts[1]: write the host name alone, wiki.example.com: no scheme, port or path (a request is routed by its Host whatever port it names)',
    '4:19 apps.blog.mail_domains: write the domain alone, mail.example.com: no scheme, port or path',
  ]);
});

test('hosts takes nginx\'s leading wildcard, *.example.com; any other wildcard, and one in mail_domains, is refused with a fix that says what is taken', async () => {
  const env = await loadEnvironmentFile(await envFile('apps:\n  blog: {hosts: ["*.Example.com", "*.a.example.com."]}\n'));
  assert.equal(overridesFor(env, 'blog').hosts, ['*.example.com', '*.a.example.com']);
  const err = await failure(loadEnvironmentFile(await envFile([
    'apps:',
    '  blog:',
    '    hosts: ["www.example.*", "*example.com", "*", "a.*.example.com", "*.bücher.example"]',
    '    mail_domains: ["*.example.com"]',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.key}: ${p.hint}`), [
    'apps.blog.hosts[0]: write it as *.www.example: it takes every name under www.example that no app names itself (list www.example too for the domain itself)',
    'apps.blog.hosts[1]: write it as *.example.com: it takes every name under example.com that no app names itself (list example.com too for the domain itself)',
    'apps.blog.hosts[2]: leave hosts: out and mount the app at / (mount: /): it then answers every Host that no app names',
    "apps.blog.hosts[3]: write a wildcard as '*.' and a domain, e.g. *.example.com: it takes every name under that domain that no app names itself",
    'apps.blog.hosts[4]: write it in its ASCII form, *.xn--bcher-kva.example: clients send an internationalised host name so (IDNA)',
    'apps.blog.mail_domains[0]: name each mail domain in full (a wildcard is taken for hosts: only)',
  ]);
  const twice = await failure(loadEnvironmentFile(await envFile('apps:\n  blog: {hosts: ["*.example.com"]}\n  wiki: {hosts: ["*.EXAMPLE.com"]}\n')));
  assert.match(twice.problems[0].format(), /apps\.wiki\.hosts\[0\]: expected a host no other app has \(apps\.blog has \*\.example\.com\)/);
});

test('an internationalised host or mail domain is refused with its ASCII form (IDNA) as the fix: what clients send', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'apps:',
    '  blog:',
    '    hosts: [bücher.example]',
    '    mail_domains: [Bücher.Example]',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}: ${p.hint}`), [
    '3:13 apps.blog.hosts[0]: write it in its ASCII form, xn--bcher-kva.example: clients send an internationalised host name so (IDNA)',
    '4:20 apps.blog.mail_domains[0]: write it in its ASCII form (IDNA), xn--bcher-kva.example',
  ]);
});

test('two apps may not share a host or a mount', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'apps:',
    '  blog: {hosts: [blog.example.com], mount: /blog}',
    '  wiki: {hosts: [wiki.example.com, BLOG.example.com], mount: /blog/}',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => p.key), ['apps.wiki.hosts[1]', 'apps.wiki.mount']);
});

test('two apps may not share a mail domain (its mail would go to whichever came first)', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'apps:',
    '  blog: {mail_domains: [shared.test]}',
    '  wiki: {mail_domains: [wiki.test, Shared.Test.]}',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['3:36 apps.wiki.mail_domains[1]']);
  assert.match(err.problems[0].message, /a mail domain no other app has \(apps\.blog has shared\.test\)/);
});

test('a setting may not take a name the gateway sets itself (SPEC 2.1): refused with its line, not silently replaced', async () => {
  const err = await failure(loadEnvironmentFile(await envFile([
    'settings:',
    '  TMPDIR: /shared/tmp',
    '  APPPKG_READY: yes',
    'apps:',
    '  blog:',
    '    settings: {PYTHONPATH: /opt/lib, APPPKG_NAME: evil, PATH: /opt/bin, PORT: 1, DATABASE_URL: sqlite://, PORTAL: on}',
    '',
  ].join('\n'))));
  assert.equal(err.problems.map((p) => `${p.line} ${p.key} ${String(p.details.found)}`), [
    '2 settings.TMPDIR "TMPDIR"',
    '3 settings.APPPKG_READY "APPPKG_READY"',
    '6 apps.blog.settings.PYTHONPATH "PYTHONPATH"',
    '6 apps.blog.settings.APPPKG_NAME "APPPKG_NAME"',
    '6 apps.blog.settings.PATH "PATH"',
    '6 apps.blog.settings.PORT "PORT"',
  ]);
  assert.match(err.problems[0].format(), /not one the gateway sets itself[\s\S]*fix: rename the setting/);
});

test('YAML syntax errors are positioned problems too', async () => {
  const err = await failure(loadEnvironmentFile(await envFile('apps:\n  blog:\n\tworkers: 2\n')));
  assert.is(err.code, 'APPPKG_ENVFILE_INVALID');
  assert.is(err.problems[0].code, 'APPPKG_DESC_YAML_SYNTAX');
  assert.is(err.problems[0].line, 3);
});

test('lone CR line ends (old Mac) are line breaks: the file is read, errors at their own line', async () => {
  const env = await loadEnvironmentFile(await envFile('settings:\r  SMTP_HOST: localhost\rapps:\r  blog:\r    workers: 2\r'));
  assert.equal(env.settings, { SMTP_HOST: 'localhost' });
  assert.is(env.apps.blog?.workers, 2);
  const err = await failure(loadEnvironmentFile(await envFile('apps:\r  blog:\r    workers: x\r')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['3:14 apps.blog.workers']);
});

// A setting's value is never shown (the gateway's log keeps what a start or a SIGHUP says of the
// file): a value YAML refuses by its first character got its fix with the value quoted whole,
// `quote the value: TOKEN: "@s3cr3t..."`, and an unclosed "[" its items as the example.
test('a syntax error in a setting\'s value names the key and the fix, never the value', async () => {
  const cases = [
    'settings:\n  TOKEN: @s3cr3t-one\n',
    'settings:\n  TOKEN: >s3cr3t-two\n',
    'apps:\n  blog:\n    settings:\n      TOKEN: `s3cr3t-three`\n',
    'settings:\n  TOKEN: [s3cr3t-four, x\n',
    'services:\n  redis: @redis://u:s3cr3t-five@localhost\n',
  ];
  for (const text of cases) {
    const err = await failure(loadEnvironmentFile(await envFile(text)));
    const said = err.problems.map((p) => p.format()).join('\n');
    assert.ok(err.problems.every((p) => p.code === 'APPPKG_DESC_YAML_SYNTAX'), said);
    assert.match(said, /(settings\.TOKEN|services\.redis): expected valid YAML/, said);
    assert.match(said, /fix: /, said);
    assert.not.match(said, /s3cr3t/, said);
  }
});

test('an unclosed quote is placed at the quote that opens it, not past the last line', async () => {
  const file = await envFile('settings:\n  A: "unterminated\n');
  const err = await failure(loadEnvironmentFile(file));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.key}`), ['2:6 APPPKG_DESC_YAML_SYNTAX settings.A']);
  assert.is(err.problems[0].format(), `${file}:2:6: settings.A: expected valid YAML, found a " that opens a quoted value and is never closed\n  fix: end the value with a closing " (write a " inside it as \\")`);
  const single = await failure(loadEnvironmentFile(await envFile("apps:\n  blog:\n    hosts: [a.test, 'b.test]\n")));
  assert.equal(single.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['3:21 apps.blog.hosts[1]']);
  assert.match(single.problems[0].hint, "closing ' (write a ' inside it as '')");
});

test('a setting name with nothing usable in it gets a real example in its fix', async () => {
  for (const name of ['""', '"-"']) {
    const err = await failure(loadEnvironmentFile(await envFile(`settings: {${name}: z}\n`)));
    assert.is(err.problems[0].hint, 'name it with letters, digits and "_" only, e.g. MY_SETTING', name);
  }
  const err = await failure(loadEnvironmentFile(await envFile('settings: {smtp-host: z}\n')));
  assert.is(err.problems[0].hint, 'name it with letters, digits and "_" only, e.g. smtp_host');
});

test('parseSize: binary units, any spelling', () => {
  assert.is(parseSize('512MB'), 512 * 1024 ** 2);
  assert.is(parseSize('512M'), 512 * 1024 ** 2);
  assert.is(parseSize('512 MiB'), 512 * 1024 ** 2);
  assert.is(parseSize('1.5g'), 1.5 * 1024 ** 3);
  assert.is(parseSize('10kb'), 10240);
  assert.is(parseSize('100B'), 100);
  assert.is(parseSize('100'), 100);
  assert.is(parseSize(4096), 4096);
  assert.is(parseSize('lots'), null);
  assert.is(parseSize('-1MB'), null);
});

// The schema lets `512Mi` (Kubernetes' spelling) through; a size it accepts but parseSize did not
// read left the app with no max_memory at all, never recycled, with nothing said.
test('every unit the schema accepts is read as a size: 512Mi, 1Gi, 65536Ki too', async () => {
  const spellings: Array<[string, number]> = [['512Mi', 512 * 1024 ** 2], ['1Gi', 1024 ** 3], ['65536Ki', 64 * 1024 ** 2], ['2Ti', 2 * 1024 ** 4], ['512MiB', 512 * 1024 ** 2], ['512mb', 512 * 1024 ** 2]];
  for (const [written, bytes] of spellings) {
    const env = await loadEnvironmentFile(await envFile(`apps:\n  blog:\n    max_memory: ${written}\n    max_body: ${written}\n`));
    assert.is(env.apps.blog.maxMemory, bytes, `max_memory: ${written}`);
    assert.is(env.apps.blog.maxBody, bytes, `max_body: ${written}`);
  }
  const mail = await loadEnvironmentFile(await envFile('mail: {listen: 127.0.0.1:2525, max_size: 10Mi}\n'));
  assert.is(mail.mail?.maxSize, 10 * 1024 ** 2);
});

// A number alone is bytes (docs/description.md): `max_memory: 512` meant megabytes, and no Python
// process fits in 512 bytes, so every worker was recycled at its first request, all at once.
test('max_memory: a number alone under 1MB (512, "100", defaults too) is refused with the unit to write; 16777216 and up, and units, are read', async () => {
  const file = await envFile('defaults:\n  max_memory: 256\napps:\n  blog:\n    max_memory: 512\n  wiki:\n    max_memory: "100"\n');
  const err = await failure(loadEnvironmentFile(file));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['2:15 defaults.max_memory', '5:17 apps.blog.max_memory', '7:17 apps.wiki.max_memory']);
  const blog = err.problems[1].format();
  assert.match(blog, `${file}:5:17: apps.blog.max_memory: expected a size with its unit, like "512MB" (a number alone is bytes, and under 1MB no Python process fits), found 512`);
  assert.match(blog, 'fix: write the unit: max_memory: 512MB (or 512M, 512Mi: units are binary), or a number of bytes of at least 16777216');
  const read = await loadEnvironmentFile(await envFile('apps:\n  blog:\n    max_memory: 16777216\n  wiki:\n    max_memory: 512MB\n'));
  assert.is(read.apps.blog.maxMemory, 16 * 1024 ** 2);
  assert.is(read.apps.wiki.maxMemory, 512 * 1024 ** 2);
});

// `512k` is a size with its unit, so the check above let it through, but no Python worker fits in
// 512 KiB (the shim's worker with a hello app imported: 13 MiB on CPython 3.9, 17 on 3.11): every
// worker was recycled at its first request, and its replacement at the next.
test('max_memory under 16MB (512k, 512KB, 15MB, 4194304 bytes, defaults too) is refused at its line, naming the unit and what a worker takes; 16MB is read', async () => {
  const file = await envFile('defaults:\n  max_memory: 512k\napps:\n  blog:\n    max_memory: 512KB\n  wiki:\n    max_memory: 15MB\n  shop:\n    max_memory: 4194304\n');
  const err = await failure(loadEnvironmentFile(file));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['2:15 defaults.max_memory', '5:17 apps.blog.max_memory', '7:17 apps.wiki.max_memory', '9:17 apps.shop.max_memory']);
  const blog = err.problems[1].format();
  assert.match(blog, `${file}:5:17: apps.blog.max_memory: expected a size of at least 16MB (16 MiB; a Python worker takes 13 to 18 MiB once it has imported a hello app, an ASGI one up to 26 MiB), found "512KB"`);
  assert.match(blog, "fix: write the size the app's workers take after their import plus what they grow by (status shows each worker's RSS), e.g. max_memory: 512MB, or leave max_memory out to never recycle a worker for its memory");
  const read = await loadEnvironmentFile(await envFile('apps:\n  blog:\n    max_memory: 16MB\n  wiki:\n    max_memory: 16384k\n'));
  assert.is(read.apps.blog.maxMemory, 16 * 1024 ** 2);
  assert.is(read.apps.wiki.maxMemory, 16 * 1024 ** 2);
});

// The schema is what `check` says of a value that is no size at all, and what an editor shows
// beside the key: it said nothing of the 16 MiB floor the loader refuses below (760dbdb), so a
// user who followed its fix could write 1MB and be refused again. A unit cannot be compared in
// JSON schema: the floor is in its words, and these must name the loader's own.
test('max_memory that is no size ("lots"): the fix, the schema\'s x-fix and description, names the 16MB floor the loader enforces', async () => {
  const file = await envFile('apps:\n  blog:\n    max_memory: lots\n');
  const err = await failure(loadEnvironmentFile(file));
  const floor = `at least ${MIN_MAX_MEMORY / 1024 ** 2}MB (${MIN_MAX_MEMORY} bytes)`;
  assert.match(err.problems[0].format(), `fix: write a number with a unit, e.g. max_memory: 512MB (units K, M, G, T are binary), or a number of bytes; ${floor}`);
  const schema = JSON.parse(await readFile(path.join(ROOT, 'schema', 'environment.schema.json'), 'utf8')) as { definitions: Record<string, { description: string; 'x-fix': string }> };
  assert.match(schema.definitions.max_memory.description, floor);
  assert.match(schema.definitions.max_memory['x-fix'], floor);
});

// SPEC 2.1 gives each setting as its own variable; docs/description.md: numbers and booleans as
// written. A value YAML reads as null (nothing after the colon, ~) or as a float that is no number
// JSON has (.inf, .nan) is refused, with the quoting that gives it: "" for an empty value.
test('settings reach the app as written (numbers, booleans, =, newlines, unicode, empty); null and .inf are refused with the quoting to write', async () => {
  const env = await loadEnvironmentFile(await envFile('settings:\n  T: true\n  F: 1.0\n  O: 0o17\n  E: 1e3\n  H: 0x1F\n  Y: yes\n  Q: ""\n  EQ: a=b=c\n  NL: "one\\ntwo"\n  U: bücher ✓\n'));
  assert.equal(overridesFor(env, 'blog').settings, { T: 'true', F: '1.0', O: '0o17', E: '1e3', H: '0x1F', Y: 'yes', Q: '', EQ: 'a=b=c', NL: 'one\ntwo', U: 'bücher ✓' });
  for (const value of ['', ' ~', ' null', ' .inf', ' .nan']) {
    const err = await failure(loadEnvironmentFile(await envFile(`settings:\n  SMTP_PASSWORD:${value}\n`)));
    assert.is(err.code, 'APPPKG_ENVFILE_INVALID', value);
    assert.match(err.message, /SMTP_PASSWORD/, value);
    assert.match(String((err.details.problems as { hint: string }[])[0].hint), /write "" for an empty value/, `the fix for${value} gives the empty value's spelling`);
  }
});

test.run();
