// Whether an app's start may take traffic before every worker is up (SPEC 4 asks each worker to
// pass its probe before it gets traffic, not the app to wait for its slowest): the first of the
// starts that brings its worker up, before any has failed.

/**
 * Resolves true as soon as one of `starts` resolves while none has rejected, false once they
 * have all settled otherwise (one failed first, as the whole start then fails as it did). Never
 * rejects: the caller reads each start's own outcome.
 */
export function firstUpBeforeAnyFailure(starts: ReadonlyArray<Promise<unknown>>): Promise<boolean> {
  return new Promise((resolve) => {
    let failed = false;
    let settled = 0;
    const settle = (): void => {
      if (++settled === starts.length) resolve(false);
    };
    if (starts.length === 0) resolve(false);
    for (const start of starts) {
      start.then(
        () => {
          if (!failed) resolve(true);
          settle();
        },
        () => {
          failed = true;
          settle();
        },
      );
    }
  });
}
