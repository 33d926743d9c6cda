// The numbers both ends of the link must agree on (docs/protocol.md): src/link/frames.ts's and
// python-shim/apppkg_shim/link.py's are each written out by hand, and nothing else compares
// them: a frame type or a window that differs shows only as a worker that misreads or stalls.
// Read from the shim as a worker imports it.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as frames from '../../src/link/frames.js';
import { SHIM_DIR } from '../../src/link/shim-path.js';

const test = suite('link: the shim numbers the link as the front does');

// Prints link.py's upper-case numbers and byte strings (as lists of their bytes), as JSON.
const LINK_NUMBERS = String.raw`
import json, sys
sys.path.insert(0, sys.argv[1])
from apppkg_shim import link
print(json.dumps({name: value if isinstance(value, int) else list(value) for name, value in vars(link).items()
                  if name.isupper() and isinstance(value, (int, bytes))}))
`;

type Numbers = Record<string, number | number[]>;

/** link.py's numbers by name, as a worker's Python imports them (its import-time checks run). */
function readShimNumbers(): Numbers {
  const r = spawnSync(process.env.APPPKG_TEST_PYTHON ?? 'python3', ['-c', LINK_NUMBERS, SHIM_DIR], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.error, undefined, String(r.error));
  assert.is(r.status, 0, `link.py did not import:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Numbers;
}

let read: Numbers | undefined;
/** Read once, by the first test (a shim that does not import fails that test, not the file's import). */
const shimNumbers = (): Numbers => (read ??= readShimNumbers());

test('every frame type has the same number in link.py', () => {
  for (const [name, type] of Object.entries(frames.Frame)) assert.is(shimNumbers()[name], type, `link.${name}`);
});

test('the version, the header, the windows, the credit step and the largest body piece are the same', () => {
  const shim = shimNumbers();
  for (const name of ['LINK_PROTOCOL', 'HEADER_SIZE', 'REQUEST_WINDOW', 'RESPONSE_WINDOW', 'CREDIT_STEP', 'MAX_BODY_FRAME'] as const) {
    assert.is(shim[name], frames[name], `link.${name}`);
  }
  // Bytes in link.py, the ABORT frame's whole payload.
  assert.equal(shim.ABORT_TIMED_OUT, [frames.ABORT_TIMED_OUT]);
  assert.equal(shim.ABORT_CLIENT_TIMED_OUT, [frames.ABORT_CLIENT_TIMED_OUT]);
  assert.is(shim.WS_TEXT, frames.WsKind.TEXT);
  assert.is(shim.WS_BINARY, frames.WsKind.BINARY);
});

test('a body piece is at most the response window', () => {
  // asgi_response.py's small-piece branch ends a last body without sending its head, which it
  // takes to have gone as RESPONSE_FULL's when the body is within the window: with larger
  // pieces, a last body between the window and a piece lost its status and headers. link.py
  // asserts it at import too, which python -O skips.
  const shim = shimNumbers();
  assert.ok(frames.MAX_BODY_FRAME <= frames.RESPONSE_WINDOW, `MAX_BODY_FRAME ${frames.MAX_BODY_FRAME} over RESPONSE_WINDOW ${frames.RESPONSE_WINDOW}`);
  assert.ok((shim.MAX_BODY_FRAME as number) <= (shim.RESPONSE_WINDOW as number), `link.MAX_BODY_FRAME ${shim.MAX_BODY_FRAME} over link.RESPONSE_WINDOW ${shim.RESPONSE_WINDOW}`);
});

test.run();
