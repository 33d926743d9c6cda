// The code that carries an Upgrade, loaded at the first one rather than at every start: the
// tunnel to a process (http-proxy, follow-redirects, debug) and ASGI websockets (ws), with the
// Node modules they pull in (https, tls, zlib): ~1 MiB of the front's idle RSS (59.1 -> 58.3
// MiB), for gateways most of which never see a websocket. A gateway serving an app that can take
// one loads them a moment after that app is attached (preloadWebsocketModules), not at its first
// upgrade: an upgrade of apppkg-gateway in place (npm, a package manager) replaces the chunk
// files, whose names change with every build, and the running gateway could then load none
// until it was restarted.
import type { forwardUpgrade } from './forward-upgrade.js';
import type { forwardWebsocket } from './forward-websocket.js';

export interface WebsocketModules {
  forwardUpgrade: typeof forwardUpgrade;
  forwardWebsocket: typeof forwardWebsocket;
}

let loaded: WebsocketModules | null = null;
let loading: Promise<WebsocketModules> | null = null;

/** The modules, once loadWebsocketModules() has brought them; null before. */
export function websocketModules(): WebsocketModules | null {
  return loaded;
}

/** Loads them (once; later calls share the first load). */
export function loadWebsocketModules(): Promise<WebsocketModules> {
  loading ??= Promise.all([import('./forward-upgrade.js'), import('./forward-websocket.js')]).then(
    ([upgrade, websocket]) => {
      loaded = { forwardUpgrade: upgrade.forwardUpgrade, forwardWebsocket: websocket.forwardWebsocket };
      return loaded;
    },
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
      throw new Error(`${err.message.split('\n')[0]}: apppkg-gateway's files were replaced or removed while this gateway ran (upgraded in place?); restart the gateway`);
    },
  );
  return loading;
}

/** How long after an app that takes websockets is attached its code is loaded: past a cold start's first requests. */
const PRELOAD_AFTER_MS = 1000;
let preloadTimer: NodeJS.Timeout | null = null;

/** Loads the modules soon, in the background, once; a failure is left for the first upgrade to report. */
export function preloadWebsocketModules(): void {
  if (loading !== null || preloadTimer !== null) return;
  preloadTimer = setTimeout(() => {
    loadWebsocketModules().catch(() => {});
  }, PRELOAD_AFTER_MS);
  preloadTimer.unref();
}
