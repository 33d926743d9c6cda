// Builds an --apps directory of real packages for gateway tests, and a client loop that counts
// failed requests while deploys happen.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { EXAMPLES, FIXTURES } from './process.js';

/** Copies fixture/example `source` to `appsDir/target`, optionally rewriting files in it. */
export function addPackage(appsDir: string, source: string, target: string, edits: Record<string, [RegExp | string, string][]> = {}): string {
  const from = source.startsWith('examples/') ? join(EXAMPLES, source.slice('examples/'.length)) : join(FIXTURES, 'apps', source);
  const dir = join(appsDir, target);
  cpSync(from, dir, { recursive: true, filter: (p) => !p.includes('__pycache__') });
  for (const [file, replacements] of Object.entries(edits)) {
    let text = readFileSync(join(dir, file), 'utf8');
    for (const [pattern, replacement] of replacements) text = text.replace(pattern, replacement);
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

export function writePackage(appsDir: string, name: string, files: Record<string, string>): string {
  const dir = join(appsDir, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

/**
 * `--environment FILE` giving every app one worker, FILE written in `dir` (mode 0600, as the
 * gateway asks of it): for a test that reads what one worker shows, where each worker more is
 * a Python start (and, in a crash loop, one per back-off for as long as the gateway runs).
 */
export function oneWorkerEach(dir: string): string[] {
  const file = join(dir, 'one-worker-each.yaml');
  writeFileSync(file, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  return ['--environment', file];
}

/** `parent/name` with this app.yaml and wsgi.py, whose `application` answers every request "ok". */
export function wsgiPackage(parent: string, name: string, yaml: string): string {
  return writePackage(parent, name, {
    'app.yaml': yaml,
    'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n',
  });
}

/**
 * An ASGI module's `application` that answers the module's VERSION (a str the text before it
 * sets): an HTTP request's body, and a websocket's first message, the socket then held open
 * until the client leaves. For a test that tells which code serves across a reload or restart.
 */
export const ASGI_ANSWERS_VERSION = `async def application(scope, receive, send):
    assert scope["type"] in ("http", "websocket"), scope["type"]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": VERSION.encode()})
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": VERSION})
    while (await receive())["type"] != "websocket.disconnect":
        pass
`;

export interface LoopResult {
  sent: number;
  failed: number;
  failures: string[];
  /** Each distinct answer body's `version` field, in the order first seen. */
  versions: string[];
}

/**
 * Sends requests back to back (`concurrency` at a time) until stop() is called; counts
 * everything that is not a 200 as a failure. Bounded: it gives up after `maxMs`.
 */
export function clientLoop(url: string, concurrency = 4, maxMs = 120_000): { stop(): Promise<LoopResult>; result: LoopResult } {
  const result: LoopResult = { sent: 0, failed: 0, failures: [], versions: [] };
  let running = true;
  const deadline = Date.now() + maxMs;
  const one = async () => {
    while (running && Date.now() < deadline) {
      result.sent++;
      try {
        const res = await request(url, { headersTimeout: 30_000, bodyTimeout: 30_000 });
        const body = await res.body.text();
        if (res.statusCode !== 200) {
          result.failed++;
          result.failures.push(`${res.statusCode}: ${body.slice(0, 200)}`);
          continue;
        }
        const version = String(JSON.parse(body).version);
        if (result.versions[result.versions.length - 1] !== version) result.versions.push(version);
      } catch (err) {
        result.failed++;
        result.failures.push(String(err));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, one);
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}
