// The restart delay and the crash-loop signal (supervisor/backoff.ts), on a clock of our own.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Backoff, DEFAULT_BACKOFF } from '../../src/supervisor/backoff.js';

const test = suite('backoff');

test('the delay doubles from 0.5 s to its 30 s cap; a process up for 30 s starts it over', () => {
  const b = new Backoff();
  const delays = Array.from({ length: 8 }, (_, i) => b.recordExit(i * 1000, 100));
  assert.equal(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.is(b.recordExit(100_000, DEFAULT_BACKOFF.stableMs), 500);
});

test('five exits in a minute are a crash loop; a minute later, with the process up, it is over', () => {
  const b = new Backoff();
  for (let i = 0; i < 5; i++) b.recordExit(i * 1000, 100);
  assert.ok(b.isCrashLooping(5000));
  assert.not.ok(b.isCrashLooping(5000 + 61_000));
});

test('an app that dies at every start stays a crash loop at the 30 s delay, where a minute holds fewer than five exits', () => {
  const b = new Backoff();
  let now = 0;
  // Each process lives 1 s, then waits out the delay before the next one starts.
  for (let i = 0; i < 12; i++) now += 1000 + b.recordExit(now, 1000);
  assert.ok(b.isCrashLooping(now), 'at the cap, between two exits');
  assert.ok(b.isCrashLooping(now + 20_000));
  // The last process stays up: once it has for stableMs past the delay, no crash loop.
  assert.not.ok(b.isCrashLooping(now + DEFAULT_BACKOFF.maxMs + DEFAULT_BACKOFF.stableMs));
});

test.run();
