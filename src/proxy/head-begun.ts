// When a process's answer to a request began: undici's parser tells a request's handler at its
// answer's first byte (onResponseStarted), where its failures before a whole head (the headers
// timeout, the process's close) name no bytes. The request API's own handler takes no such
// call, so a process's Pool is used through `tellingHeadBegun`, which gives that handler the
// function a request's options carry under `HEAD_BEGUN`: told apart by it, a head begun and
// then cut or stalled is said as what it is (invalid-answer.ts CUT_HEAD, STALLED_HEAD), not as a
// close before any answer or a silence.
import type { Dispatcher } from 'undici';

/** The key of a request's options whose function is told each time an answer's head begins (a 1xx's too). */
export const HEAD_BEGUN = Symbol('apppkg.headBegun');

export type HeadBegunOptions = Dispatcher.RequestOptions & { [HEAD_BEGUN]?: () => void };

/**
 * `pool` with its `dispatch` replaced, as undici's own `compose()` returns it, but handing
 * undici's request handler on as it is: compose() wraps it in the new handler API, whose
 * headers come back parsed (a head's names lowercased, its order lost: outgoing-headers.ts
 * passes them on as written).
 */
export function tellingHeadBegun<D extends Dispatcher>(pool: D): D {
  const dispatch: Dispatcher['dispatch'] = (opts, handler) => {
    const begun = (opts as HeadBegunOptions)[HEAD_BEGUN];
    if (begun !== undefined) {
      const before = handler.onResponseStarted;
      handler.onResponseStarted =
        before === undefined
          ? begun
          : () => {
              before.call(handler);
              begun();
            };
    }
    return pool.dispatch(opts, handler);
  };
  return new Proxy(pool, { get: (target, key) => (key === 'dispatch' ? dispatch : Reflect.get(target, key)) });
}
