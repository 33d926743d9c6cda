// The websockets the gateway holds for ASGI apps, across apps and versions, from the upgrade
// until the client's connection closes: what the front closes (1001) when the gateway stops,
// and waits for before it destroys the connections left, so each client gets a close frame
// rather than a reset (RFC 6455 §7.4.1: 1001 "going away").

/** What the front needs of one websocket: to close it, as the gateway, with a code. */
export interface ClosableWebsocket {
  closeByGateway(code: number, reason: string): void;
}

export class OpenWebsockets {
  private readonly open = new Set<ClosableWebsocket>();
  private idleWaiters: Array<() => void> = [];

  get size(): number {
    return this.open.size;
  }

  add(websocket: ClosableWebsocket): void {
    this.open.add(websocket);
  }

  delete(websocket: ClosableWebsocket): void {
    if (this.open.delete(websocket) && this.open.size === 0) this.idleWaiters.splice(0).forEach((w) => w());
  }

  /** Closes every one (the app is told with WS_CLOSE `code`, the client gets a close frame). */
  closeAll(code: number, reason: string): void {
    for (const websocket of [...this.open]) websocket.closeByGateway(code, reason);
  }

  /** Resolves once none is open, or after `ms`. */
  whenClosed(ms: number): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
