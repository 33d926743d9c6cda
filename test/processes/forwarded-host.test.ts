// A trusted proxy's X-Forwarded-Host as a `processes:` route's server gets it, beside what a WSGI
// app of the same gateway is given (docs/protocol.md, docs/reliability.md R6.1l): an empty port
// (`host:`, RFC 3986 §6.2.3: the same as none) is dropped for both, since the process's own host
// check (Django's, behind USE_X_FORWARDED_HOST) refuses the colon as the app's would. The rest is
// the process's to read, as a server behind a proxy reads it: each element of a list goes on
// (werkzeug's ProxyFix x_host=N counts them), and one that is no host goes on as sent. A WSGI
// app, whose host the gateway states from the last element, gets a 400 when that one is no host.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('processes: a trusted X-Forwarded-Host');
const apps = tempDir('apppkg-proc-fwd-host-apps-');
const state = tempDir('apppkg-proc-fwd-host-state-');
let gw: RunningGateway;
let port = 0;

test.before(async () => {
  addPackage(apps.path, 'command-server', 'cmd'); // its own HTTP server: answers with the headers it got
  addPackage(apps.path, 'rel-rfc-echo', 'rfc'); // a WSGI app: answers with its environ
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--trust-proxy', '--access-log', 'off'], { ms: 60_000 });
  port = Number(new URL(gw.url).port);
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'both apps to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

/** The JSON body of a 200 to a GET of `path` with these fields, on a connection of its own. */
async function answered(path: string, fields: string): Promise<Record<string, any>> {
  const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: internal:8000\r\n${fields}Connection: close\r\n\r\n`, 10_000);
  assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 300));
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, any>;
}

const processSees = async (fields: string): Promise<string | null> => (await answered('/cmd/x', fields)).headers['X-Forwarded-Host'];
const appSees = async (fields: string): Promise<string> => (await answered('/rfc/echo', fields)).HTTP_X_FORWARDED_HOST;

test('an empty port is dropped for the process as for the app: www.example.com, [2001:db8::1]', async () => {
  for (const [sent, meant] of [['www.example.com:', 'www.example.com'], ['[2001:db8::1]:', '[2001:db8::1]']]) {
    const fields = `X-Forwarded-Host: ${sent}\r\nX-Forwarded-Proto: https\r\n`;
    assert.is(await appSees(fields), meant, `the app, X-Forwarded-Host: ${sent}`);
    assert.is(await processSees(fields), meant, `the process, X-Forwarded-Host: ${sent}`);
  }
});

test('a host with its port, and a list: each element as sent but for an empty port; the process the whole list, the app its last', async () => {
  assert.is(await processSees('X-Forwarded-Host: www.example.com:8443\r\n'), 'www.example.com:8443');
  const list = 'X-Forwarded-Host: edge.example:, www.example.com:\r\n';
  assert.is(await processSees(list), 'edge.example, www.example.com');
  assert.is(await appSees(list), 'www.example.com');
  // Two field lines are one list (RFC 9110 §5.3), as node:http joins them.
  assert.is(await processSees('X-Forwarded-Host: edge.example:\r\nX-Forwarded-Host: www.example.com:\r\n'), 'edge.example, www.example.com');
});

test('no host last (two colons, a colon alone, after a good one): the process gets it as sent, to judge itself; the app, which the gateway states a host to, is not asked: 400', async () => {
  for (const sent of ['www.example.com::', ':', 'a.example, x::']) {
    assert.is(await processSees(`X-Forwarded-Host: ${sent}\r\n`), sent);
    // The nearest proxy's element names no host: neither the proxy's Host (the gateway's
    // address) nor the client's element before it is the host the client asked for.
    const answer = await rawRequest(port, `GET /rfc/echo HTTP/1.1\r\nHost: internal:8000\r\nX-Forwarded-Host: ${sent}\r\nConnection: close\r\n\r\n`, 10_000);
    assert.match(answer, /^HTTP\/1\.1 400 /, `X-Forwarded-Host: ${sent}: ${answer.slice(0, 300)}`);
    assert.match(answer, /X-Forwarded-Host of the trusted proxy does not end in a host\[:port\]/);
  }
  // An element further left that is no host is the client's claim, not the gateway's to judge.
  assert.is(await appSees('X-Forwarded-Host: x::, www.example.com\r\n'), 'www.example.com');
});

test.run();
