// net/request-path.ts: the one decoder of request paths, and the path the router compares,
// where an encoded slash is data inside a segment (RFC 3986 §2.2), never a separator.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRequestPath, ENCODED_SLASH, routedRequestPath } from '../../src/net/request-path.js';
import { hostOnly, Router } from '../../src/proxy/router.js';

const test = suite('request path');

test('an encoded slash routes as data and reaches the app as /', () => {
  assert.equal(routedRequestPath('/fa%2Fscope'), { route: `/fa${ENCODED_SLASH}scope`, path: '/fa/scope' });
  assert.equal(routedRequestPath('/fa/x%2fy'), { route: `/fa/x${ENCODED_SLASH}y`, path: '/fa/x/y' });
  assert.is(decodeRequestPath('/fa%2Fscope'), '/fa/scope');
  assert.equal(routedRequestPath('/caf%C3%A9/'), { route: '/caf\xc3\xa9/', path: '/caf\xc3\xa9/' });
});

test('dot segments resolve as nginx: encoded dots too, // merged first (nginx merge_slashes); .. above the root or beside an encoded slash is refused', () => {
  const cases: [string, string][] = [
    ['/a/../b', '/b'], ['/a/%2e%2e/b', '/b'], ['/a/.%2E/b', '/b'], ['/a/b/..', '/a/'], ['/a/..', '/'], ['/a/.', '/a/'],
    ['/a/./b', '/a/b'], ['/a//../b', '/b'], ['/a//.', '/a/'], ['/x//y/./z//', '/x/y/z/'], ['/a/b/../../c', '/c'], ['/a/...', '/a/...'], ['/a/..;/b', '/a/..;/b'],
  ];
  for (const [raw, path] of cases) assert.equal(routedRequestPath(raw), { route: path, path }, raw);
  assert.equal(routedRequestPath('/a/../b%2Fc'), { route: `/b${ENCODED_SLASH}c`, path: '/b/c' });
  for (const raw of ['/..', '/../a', '//../a', '/a//../..', '/a/../..', '/a/../../b', '/%2e%2e/a', '/a/..%2fb', '/a/%2e%2e%2Fb', '/a/x%2F..', '/a/x%2F..%2Fy']) {
    assert.is(routedRequestPath(raw), null, raw);
  }
  assert.is(routedRequestPath('%2Fa'), null, 'a path starts with a slash as sent');
});

test('the router splits at a separator, never inside a segment', () => {
  const router = new Router([{ target: 'fa', host: null, prefix: '/fa' }, { target: 'root', host: null, prefix: '' }]);
  const at = (raw: string) => {
    const routed = routedRequestPath(raw)!;
    return router.match(undefined, routed.route, routed.path);
  };
  assert.equal(at('/fa%2Fscope'), { target: 'root', scriptName: '', pathInfo: '/fa/scope', routedPathInfo: `/fa${ENCODED_SLASH}scope` });
  assert.equal(at('/fa/a%2Fb'), { target: 'fa', scriptName: '/fa', pathInfo: '/a/b', routedPathInfo: `/a${ENCODED_SLASH}b` });
  assert.equal(at('/fa'), { target: 'fa', scriptName: '/fa', pathInfo: '', routedPathInfo: '' });
  assert.equal(at('/./fa/x'), { target: 'fa', scriptName: '/fa', pathInfo: '/x', routedPathInfo: '/x' });
});

test('Host is read as a host name, the same header again as the first time, whatever came between', () => {
  const router = new Router([{ target: 'blog', host: 'blog.example', prefix: '' }, { target: 'v6', host: '::1', prefix: '' }, { target: 'any', host: null, prefix: '' }]);
  const target = (host: string | undefined) => router.match(host, '/')?.target;
  const hosts = ['Blog.Example:8080', 'Blog.Example:8080', '[::1]:80', 'blog.example.', 'Blog.Example:8080', 'other', '', undefined, '[::1]:80'];
  assert.equal(hosts.map((h) => [hostOnly(h), target(h)]), [
    ['blog.example', 'blog'], ['blog.example', 'blog'], ['::1', 'v6'], ['blog.example', 'blog'], ['blog.example', 'blog'],
    ['other', 'any'], [null, 'any'], [null, 'any'], ['::1', 'v6'],
  ]);
});

test.run();
