// The code that carries an Upgrade, loaded at the first one rather than at every start: the
// tunnel to a process (http-proxy, follow-redirects, debug) and ASGI websockets (ws), with the
// Node modules they pull in (https, tls, zlib): ~1 MiB of the front's idle RSS (59.1 -> 58.3
// MiB), for gateways most of which never see a websocket.
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
  loading ??= Promise.all([import('./forward-upgrade.js'), import('./forward-websocket.js')]).then(([upgrade, websocket]) => {
    loaded = { forwardUpgrade: upgrade.forwardUpgrade, forwardWebsocket: websocket.forwardWebsocket };
    return loaded;
  });
  return loading;
}
