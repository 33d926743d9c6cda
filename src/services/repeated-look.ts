// A look at the services' servers repeated every interval, the next only once the one before has
// finished (a server that hangs delays it), never holding up a gateway that is stopping. The
// PostgreSQL and Redis watches run on it.

export class RepeatedLook {
  private timer: NodeJS.Timeout | null = null;
  private looking: Promise<void> = Promise.resolve();
  private stopped = false;

  /** The first look comes after `intervalMs`; a look that throws is told to `onError`, and the next one comes as usual. */
  constructor(
    private readonly look: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.schedule();
  }

  /** No further look; resolves once the one under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.looking;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.looking = this.look()
        .catch(this.onError)
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
