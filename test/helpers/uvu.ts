/**
 * uvu as the test files import it (`import { test, suite } from 'uvu'`): tsconfig.json's `paths`
 * sends that import here (scripts/ts-hooks.mjs), so `npm test` and a hand run
 * (`node --import ./scripts/ts-register.mjs node_modules/uvu/bin.js test/<dir>`) both get it with no change to a test.
 *
 * Why: uvu 0.5.6's formatter reads `err.details` of a failed test and calls `.split('\n')` on it.
 * GatewayError's `details` is an object (public API, in the .d.ts), so the formatter threw inside
 * uvu's runner, whose `finally` returns: the rest of the suite did not run, nothing was printed and
 * the run exited 0 ("(1 / 28)", no FAIL). A test's error whose `details` is not a string reaches
 * uvu here as a plain Error that says the code, the message and the fix, its stack kept. Likewise a
 * `before` hook that throws (uvu drops that error too): each test of its suite fails with it.
 */
// uvu types `uvu` (its index.d.ts), which tsconfig.json sends here, and not the file that import
// loads: its names are given index.d.ts's types below.
// @ts-expect-error TS7016: no declaration file for uvu's dist/index.mjs
import { suite as untypedSuite, test as untypedTest, exec as untypedExec } from '../../node_modules/uvu/dist/index.mjs';
import type * as Uvu from '../../node_modules/uvu/index.d.ts';
import type { Callback, Test } from '../../node_modules/uvu/index.d.ts';

const uvuSuite: typeof Uvu.suite = untypedSuite;
const uvuTest: typeof Uvu.test = untypedTest;
export const exec: typeof Uvu.exec = untypedExec;
export type { Callback, Test };
export const test: Test = readable(uvuTest);
export function suite<T = Record<string, any>>(title?: string, context?: T): Test<T> {
  return readable(uvuSuite(title, context));
}

function readable<T>(real: Test<T>): Test<T> {
  // What a before hook threw, for the tests registered with it: `run()` queues them and the next
  // registrations (uvu's one `test` serves every file) are another suite's.
  let current: { beforeFailed?: unknown } = {};
  const wrapTest = (handler: Callback<T>): Callback<T> => {
    const mine = current;
    return async (context) => {
      if ('beforeFailed' in mine) throw formattable(mine.beforeFailed, 'the suite\'s before hook threw: ');
      try {
        await handler(context);
      } catch (err) {
        throw formattable(err);
      }
    };
  };
  const wrapped = ((name: string, handler: Callback<T>) => real(name, wrapTest(handler))) as Test<T>;
  wrapped.only = (name, handler) => real.only(name, wrapTest(handler));
  wrapped.skip = (name, handler) => real.skip(name, handler);
  wrapped.run = () => {
    current = {};
    real.run();
  };
  const before = ((hook: Callback<T>) => {
    const mine = current;
    real.before(async (context) => {
      try {
        await hook(context);
      } catch (err) {
        mine.beforeFailed = err;
      }
    });
  }) as Test<T>['before'];
  before.each = (hook) => real.before.each(async (context) => {
    try {
      await hook(context);
    } catch (err) {
      throw formattable(err);
    }
  });
  wrapped.before = before;
  wrapped.after = real.after;
  return wrapped;
}

/**
 * The error as uvu can print it: unchanged unless its `details` is something uvu cannot split
 * (uvu's own assertions carry a string, or false, which it skips).
 */
function formattable(err: unknown, prefix = ''): unknown {
  if (!(err instanceof Error)) return prefix === '' ? err : new Error(`${prefix}${String(err)}`);
  const details = (err as { details?: unknown }).details;
  if (prefix === '' && (!details || typeof details === 'string')) return err;
  const code = (err as { code?: unknown }).code;
  const hint = (err as { hint?: unknown }).hint;
  const said = `${prefix}${typeof code === 'string' ? `${code}: ` : ''}${err.message}${typeof hint === 'string' ? `\n    fix: ${hint}` : ''}`;
  const plain = new Error(said, { cause: err });
  plain.name = err.name;
  // uvu prints the message, then the stack from its first line break on: the thrower's frames.
  const frames = err.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? [];
  plain.stack = [plain.name, ...frames].join('\n');
  return plain;
}
