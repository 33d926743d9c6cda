// Which `processes:` command lines run as `exec COMMAND` (the program's own pid in status) and
// which run as written, because `exec` would change what they do.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execForm } from '../../src/supervisor/command-process.js';

test('a simple command, with $PORT, ${PORT}, quotes or a redirection, runs as exec', () => {
  for (const line of ['python app.py --port $PORT', 'gunicorn -b 127.0.0.1:${PORT} app:app', "python -m http.server \"$PORT\"", 'python srv.py > out.log']) {
    assert.is(execForm(line), `exec ${line}`);
  }
});

test('lists, pipes, subshells, assignments, compound commands and builtins run as written', () => {
  for (const line of ['cd sub && python x.py', 'python a; python b', 'python a | tee b', 'python x 2>&1', '(python x)', 'echo `date`', 'FOO=1 python x', 'if true; then python x; fi', '{ python x; }', '! python x', 'exec python x', 'cd sub', '. ./env.sh', 'eval "$CMD"', 'while true; do x; done', 'python a\npython b']) {
    assert.is(execForm(line), line);
  }
});

test.run();
