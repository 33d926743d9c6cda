// How many apps are judged (imported, probed, their hooks run) at once. Starting an app is
// mostly its interpreter importing, bound by the CPU, so a few at a time start a hundred apps
// about as fast as all at once, without a hundred imports racing the start deadline. A slot
// held past `holdMs` is given up to the next app: a start that is slow or hangs (an import
// waiting on a database, a long install hook) does not hold back the apps behind it.

export class StartSlots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number, private readonly holdMs: number) {
    this.free = size;
  }

  /** Resolves with the slot's release once one is free. */
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let given = false;
    const give = (): void => {
      if (given) return;
      given = true;
      clearTimeout(timer);
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.free++;
    };
    const timer = setTimeout(give, this.holdMs).unref();
    return give;
  }
}
