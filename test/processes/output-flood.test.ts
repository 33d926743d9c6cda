// A `processes:` entry writing at full speed is read at the app's output rate
// (log/output-throttle.ts): past the burst its writes wait, the app log says so once, and every
// line it wrote is there, in order; the app's worker serves meanwhile. Through the real CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCliIn, tempDir, waitFor } from '../helpers/process.js';

const LINES = 60_000; // 100 bytes each (with its [noise] mark): 6 MiB, 2 MiB past the burst

test('a process flooding its output is slowed, said once in the app log, and loses no line', async () => {
  const dir = tempDir('apppkg-flood-');
  const apps = join(dir.path, 'apps');
  writePackage(apps, 'noisy', {
    'app.yaml': 'platform: python, wsgi\napp: noisy:application\nprocesses:\n  noise:\n    command: python3 noise.py\n',
    'noisy.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'noise.py': `import sys, time\nfor i in range(${LINES}):\n    sys.stdout.write("%09d %s\\n" % (i, "x" * 82))\nsys.stdout.write("done\\n")\nsys.stdout.flush()\ntime.sleep(600)\n`,
  });
  const gw = await startCliIn(dir, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--access-log', 'off']);
  const log = join(dir.path, 'state', 'apps', 'noisy', 'log', 'app.log');
  try {
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('[noise] done\n'), 90_000, 'the last line of the flood');
    assert.is((await fetch(`${gw.url}/noisy/`)).status, 200);
    const text = readFileSync(log, 'utf8');
    assert.is(text.split('its output is read at most 1024 KiB/s').length, 2, 'said once');
    const numbered = text.split('\n').filter((l) => /^\[noise\] \d{9} /.test(l));
    assert.is(numbered.length, LINES, 'every line');
    numbered.forEach((line, i) => {
      if (Number(line.slice(8, 17)) !== i) assert.unreachable(`line ${i} is ${line.slice(8, 17)}`);
    });
  } finally {
    await stopGatewayChecked(gw, dir);
  }
});

test.run();
