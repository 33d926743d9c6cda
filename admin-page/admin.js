// The status page's script (issue 14, docs/admin.md). One EventSource on /events: its first
// `status` event carries the whole GatewayStatus (src/admin/status-types.ts), each `apps` event
// after it what changed (src/admin/status-patch.ts), and the page is redrawn from the status
// kept whole here, without a reload; only the cards of apps that changed are drawn again. Every piece of data reaches the DOM through textContent or
// an attribute, never innerHTML: app names, log lines and tracebacks are the apps' own text.
// The page is served under `script-src 'self'; style-src 'self'`: no inline handlers, no
// element.style; looks change by class only.
'use strict';

/** Log lines shown per app; the status carries at most 40. */
const LOG_LINES = 40;
/** History events shown per app, newest first; the status keeps at most 50. */
const HISTORY_EVENTS = 12;
/** Seconds after which a reconnect is tried by hand when EventSource gave up (a non-SSE answer). */
const RECONNECT_SECONDS = 3;

const appsRoot = document.querySelector('[data-apps]');
const gatewayRoot = document.querySelector('[data-gateway]');
const brokenRoot = document.querySelector('[data-broken-list]');
const noticeRoot = document.querySelector('[data-notice]');
const connection = document.querySelector('[data-connection]');

/** Per app, what outlives a redraw: its card's parts and the last action's answer. */
const cards = new Map();
let lastStatus = null;
/** The status as this stream has sent it, `apps` events applied; null until its first event. */
let streamStatus = null;
/** The one EventSource on /events (replaced when it gave up for good). */
let events = null;
/** The last try of the stream was answered 401 (the login refused): said until a stream opens again. */
let loginRefused = false;

// ---------------------------------------------------------------------------------------------
// DOM building: h('td', { class: 'num', data: { pid: 12 } }, 'text', child)

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    // Flat: a helper's class list holds its caller's, itself a list (stat's ['wide', 'bad']),
    // which joined as is gave the one class `wide,bad`.
    if (key === 'class') el.className = Array.isArray(value) ? value.flat(Infinity).filter(Boolean).join(' ') : value;
    else if (key === 'data') for (const [k, v] of Object.entries(value)) { if (v !== undefined && v !== null) el.dataset[k] = String(v); }
    else if (key === 'title') el.title = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Replaces el's children; like replaceChildren, but skips null, false and undefined. */
function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting: numbers as an operator reads them at a glance, the exact value in the tooltip.

const DASH = '\u2013';

function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

/** The gateway's clock minus this browser's (ms), from the last status: times are the gateway's. */
let clockOffset = 0;

function secondsSince(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? NaN : (Date.now() + clockOffset - t) / 1000;
}

function ago(iso) {
  const s = secondsSince(iso);
  if (!Number.isFinite(s)) return DASH;
  return s < 1 ? 'just now' : `${duration(s)} ago`;
}

function localTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** The time of day; the date too when it is not today. */
function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  const time = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

function bytes(n) {
  if (n === null || n === undefined) return DASH;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

function percent(n) {
  return n === null || n === undefined ? DASH : `${n.toFixed(1)}%`;
}

function millis(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const ms = seconds * 1000;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function count(n) {
  return n === null || n === undefined ? DASH : Number(n).toLocaleString('en-US');
}

function exitText(exit) {
  if (!exit) return DASH;
  if (exit.failedToStart) return 'failed to start';
  return exit.signal ? exit.signal : `status ${exit.code}`;
}

/**
 * Words that may have lines of their own (a traceback, an exception's fields nested under it, a
 * description's several problems) as `status` prints them: the lines after the first hang under
 * it, each with its own indentation, in the terminal's font (`said-more`). Joined into one line
 * by HTML, the nesting was lost. Trailing blanks and empty lines go, as there.
 */
function said(text) {
  const [first, ...more] = String(text).split('\n').map((l) => l.replace(/\s+$/, ''));
  const rest = more.filter((l) => l !== '');
  return h('span', { class: 'said' }, first, rest.length ? h('span', { class: 'said-more' }, rest.join('\n')) : null);
}

/** A time that keeps counting: the ticker rewrites every [data-since] / [data-ago] each second. */
function since(iso, attrs = {}) {
  return h('span', { ...attrs, class: ['since', attrs.class], data: { ...attrs.data, since: iso }, title: `since ${localTime(iso)}` }, duration(secondsSince(iso)));
}

function agoSpan(iso, attrs = {}) {
  return h('time', { ...attrs, datetime: iso, class: ['ago', attrs.class], data: { ...attrs.data, ago: iso }, title: localTime(iso) }, ago(iso));
}

/** A time to come, counting down: `in 4m 10s`, then `due now`. */
function untilText(iso) {
  const s = -secondsSince(iso);
  if (Number.isNaN(s)) return DASH;
  return s < 1 ? 'due now' : `in ${duration(s)}`;
}

function untilSpan(iso, attrs = {}) {
  return h('time', { ...attrs, datetime: iso, class: ['until', attrs.class], data: { ...attrs.data, until: iso }, title: localTime(iso) }, untilText(iso));
}

function tick() {
  for (const el of document.querySelectorAll('[data-since]')) el.textContent = duration(secondsSince(el.dataset.since));
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = ago(el.dataset.ago);
  for (const el of document.querySelectorAll('[data-until]')) el.textContent = untilText(el.dataset.until);
}

function stateBadge(state, attrs = {}) {
  return h('span', { ...attrs, class: ['badge', `state-${String(state).replace(/[^a-z-]/g, '')}`, attrs.class], data: { ...attrs.data, state } }, state);
}

// ---------------------------------------------------------------------------------------------
// The header line: which gateway, since when, where it listens.

function renderGateway(status) {
  const item = (label, ...value) => [h('dt', null, label), h('dd', null, ...value)];
  fill(gatewayRoot,
    ...item('version', h('span', { data: { gatewayVersion: status.version } }, status.version)),
    ...item('pid', h('span', { class: 'num', data: { gatewayPid: status.pid } }, status.pid)),
    ...item('up', since(status.startedAt, { data: { gatewayUptime: '' } })),
    // Its admin listener closes last: a stop (up to --grace) shows here until its apps are gone.
    ...(status.stoppingSince ? item('state', stateBadge('stopping', { title: `since ${status.stoppingSince}`, data: { gatewayState: 'stopping' } })) : []),
    ...item('listen', status.listen.length ? status.listen.join('  ') : DASH),
    ...item('apps', String(status.apps.length)),
    ...(status.mail
      ? item('mail', h('span', { data: { mail: '' }, title: `${status.mail.refused} refused at the SMTP level, ${status.mail.failedAttempts} failed attempts` },
        `${status.mail.protocol} on ${status.mail.listen ?? DASH}: ${count(status.mail.received)} received, ${count(status.mail.delivered)} delivered, ${count(status.mail.spooled)} spooled, ${count(status.mail.deadLetters)} dead`),
        // How to deliver them again, beside their count, in the words of whoever runs the
        // gateway (a program's calls, or the CLI's); the ids those take are in the tooltip.
        ...(status.mail.deadLetters > 0 && status.mail.retryCommand
          ? [h('span', { data: { mailRetry: '' }, title: deadLetterIds(status.mail) }, '; to deliver them again: ', h('code', null, status.mail.retryCommand))]
          : []),
        ...(status.mail.deadLetters > 0 && status.mail.deleteCommand
          ? [h('span', { data: { mailDelete: '' }, title: deadLetterIds(status.mail) }, '; to delete them for good: ', h('code', null, status.mail.deleteCommand))]
          : []),
        // An app removed from --apps has no card for its waiting mail to show on.
        ...(status.mail.waitingForRemoved ?? []).map((w) => h('span', { data: { mailRemovedApp: w.app }, title: w.lastFailure ? `last failed: ${w.lastFailure.reason}` : '' },
          `; ${count(w.waiting)} waiting for ${w.app} (no app now)`)))
      : []),
  );
  document.title = `apppkg-gateway ${DASH} ${status.apps.length} app${status.apps.length === 1 ? '' : 's'}`;
}

/**
 * The ids the retry and delete take, from /status's `dead` (the newest 50): it named
 * `apppkg-gateway status` for them, which a gateway a program started has no use for.
 */
function deadLetterIds(mail) {
  const dead = mail.dead ?? [];
  const listed = dead.map((d) => `${d.id} (${d.app === '' ? 'postmaster mail' : d.app})`).join(', ');
  const older = mail.deadLetters - dead.length;
  const unlisted = older > 0 ? `${count(older)} older not listed here` : '';
  return [listed ? `the dead letters' ids, oldest first: ${listed}` : '', unlisted].filter(Boolean).join('; ');
}

function renderNotice(status) {
  const why = status.access && status.access.why;
  noticeRoot.hidden = !why;
  noticeRoot.textContent = why ? why : '';
}

function renderBroken(status) {
  const broken = status.broken ?? [];
  brokenRoot.hidden = broken.length === 0;
  if (!broken.length) return brokenRoot.replaceChildren();
  fill(brokenRoot,
    h('h2', null, `Packages that do not load (${broken.length})`),
    h('ul', null, broken.map((b) =>
      h('li', { data: { broken: b.dir } },
        h('code', { class: 'path' }, b.dir), ' ',
        h('span', { class: 'code' }, b.code), ' ',
        h('span', { class: 'message' }, said(b.message))))),
  );
}

// ---------------------------------------------------------------------------------------------
// One card per app. Its header (with the buttons and their last answer) is kept across redraws,
// so a pending action, a hover or a tooltip survives the events that arrive meanwhile; its
// sections are rebuilt from each status.

function card(name) {
  let c = cards.get(name);
  if (c) return c;
  const restart = h('button', { type: 'button', class: 'action', data: { action: 'restart' } }, 'Restart');
  const rollback = h('button', { type: 'button', class: 'action', data: { action: 'rollback' } }, 'Roll back');
  const result = h('p', { class: 'result', data: { actionResult: '' }, hidden: true, role: 'status' });
  const title = h('div', { class: 'title' });
  // A disabled button gets no pointer events in some browsers: the reason is on its box too.
  const actions = h('div', { class: 'actions' }, restart, rollback);
  const root = h('section', { class: 'app', data: { app: name } },
    h('header', { class: 'app-head' }, title, actions),
    result,
  );
  const parts = {
    summary: h('div', { class: 'summary' }),
    problem: h('div', { class: 'problem', hidden: true }),
    memory: h('div', { class: 'memory-note', hidden: true }),
    table: h('div', { class: 'table-wrap' }),
    history: h('div', { class: 'history' }),
    log: h('div', { class: 'log' }),
  };
  root.append(parts.summary, parts.problem, parts.memory, parts.table, h('div', { class: 'lower' }, parts.history, parts.log));
  c = { root, title, actions, restart, rollback, result, parts, pending: null, app: null };
  restart.addEventListener('click', () => act(c, 'restart'));
  rollback.addEventListener('click', () => act(c, 'rollback'));
  cards.set(name, c);
  return c;
}

function renderApps(status) {
  for (const el of appsRoot.querySelectorAll('.empty')) el.remove();
  const names = new Set(status.apps.map((a) => a.name));
  for (const [name, c] of cards) {
    if (names.has(name)) continue;
    c.root.remove();
    cards.delete(name);
  }
  const access = status.access ?? null;
  status.apps.forEach((app, i) => {
    const c = card(app.name);
    // Moved only when out of the status's order: a node taken out of the document forgets how
    // far its boxes were scrolled. Placed before it is drawn: the log box scrolls by its height.
    if (appsRoot.children[i] !== c.root) appsRoot.insertBefore(c.root, appsRoot.children[i] ?? null);
    // Drawn again only when its status changed: with 300 apps, drawing every card at every
    // event (up to two a second) kept the page's main thread busy all the time. Times in it
    // move on by themselves (tick). An `apps` event replaces only the entries that changed:
    // the others are the same objects; a whole status (a new stream) is compared as JSON.
    if (c.app === app && c.access === access) return;
    c.app = app;
    c.access = access;
    const drawn = JSON.stringify([app, access]);
    if (c.drawn === drawn) return;
    c.drawn = drawn;
    renderApp(c, app, status.access);
  });
  if (!status.apps.length) appsRoot.append(h('p', { class: 'empty' }, 'No apps are configured.'));
}

function renderApp(c, app, access) {
  c.root.dataset.state = app.state;
  fill(c.title,
    h('h2', { class: 'name' }, app.name),
    stateBadge(app.state, { data: { appState: '' } }),
    app.version !== null ? h('span', { class: 'version', data: { appVersion: app.version } }, app.version) : null,
    h('span', { class: 'meta' },
      h('span', { title: 'mount' }, app.mount),
      app.hosts.length ? h('span', { title: 'hosts' }, app.hosts.join(', ')) : null,
      app.user && !app.runsAsRoot ? h('span', { title: 'its processes run as this user' }, `user ${app.user}`) : null),
    app.runsAsRoot ? h('span', { class: 'badge warn', title: 'its processes run as root' }, 'runs as root') : null,
  );
  renderButtons(c, app, access);
  renderSummary(c.parts.summary, app);
  renderProblem(c.parts.problem, app.problem);
  renderMemoryNote(c.parts.memory, app);
  fill(c.parts.table, processTable(app));
  renderHistory(c.parts.history, app.history ?? []);
  renderLog(c.parts.log, app.log, access);
}

function renderButtons(c, app, access) {
  const mayAct = !access || access.act;
  const why = mayAct ? null : access.why || 'this client may not restart or roll back apps';
  const busy = c.pending !== null;
  c.actions.title = why ?? '';
  c.restart.disabled = !mayAct || busy;
  c.restart.title = why ?? `Start a fresh instance of ${app.name}, then drain the old one`;
  c.rollback.disabled = !mayAct || busy || !app.canRollBack;
  c.rollback.title = why ?? (app.canRollBack ? `Serve the version below ${app.version ?? 'the serving one'}` : 'No earlier version to go back to');
  c.restart.textContent = c.pending === 'restart' ? 'Restarting\u2026' : 'Restart';
  c.rollback.textContent = c.pending === 'rollback' ? 'Rolling back\u2026' : 'Roll back';
}

function renderSummary(el, app) {
  const stat = (label, value, attrs = {}) =>
    h('div', { ...attrs, class: ['stat', attrs.class] }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
  const lat = app.latency ?? {};
  fill(el,
    stat('served', count(app.requests), { data: { requests: app.requests } }),
    stat('failed', count(app.errors), { data: { errors: app.errors }, class: app.errors > 0 ? 'bad' : null, title: `responses with status 500 or above${refusedForRoomText(app)}` }),
    stat('in flight', count(app.inFlight), { data: { inFlight: app.inFlight } }),
    stat('queued', count(app.queued), { data: { queued: app.queued }, class: app.queued > 0 ? 'warn' : null, title: 'waiting for a free worker thread' }),
    stat('websockets', count(app.websockets), { data: { websockets: app.websockets } }),
    stat('restarts', h('span', { data: { restarts: app.restarts } }, String(app.restarts)), { class: app.restarts > 0 ? 'warn' : null, title: 'restarts of its workers and processes after unexpected exits since the gateway started, across its deploys and restarts (each worker\'s row: its own, since its version\'s instance started)' }),
    stat('p50 / p95 / p99', `${millis(lat.p50)} / ${millis(lat.p95)} / ${millis(lat.p99)}`, { data: { latency: '' }, class: 'wide', title: `over the last ${lat.windowSeconds ?? 60} s` }),
    stat('health', healthText(app.health, app.healthPath), { data: { health: app.health ? (app.health.ok ? 'ok' : 'failed') : healthNone(app.healthPath) }, class: ['wide', app.health && !app.health.ok ? 'bad' : null] }),
    ...(app.services ?? []).map((s) => stat(s.name, `${s.kind} ${s.state}`, { data: { service: s.name }, class: s.state === 'ready' ? null : 'bad', title: s.reason ?? '' })),
    ...(app.idle && (app.idle.timeoutSeconds !== null || app.idle.coldStarts > 0 || (app.idle.coldStartFailures ?? 0) > 0)
      ? [coldStartStat(stat, app.idle)]
      : []),
    app.mail ? mailStat(stat, app.mail) : null,
  );
}

/**
 * The app's wakes from idle: how many served, the last one's time, how many it failed (wakes,
 * not requests: their 503s are in `failed`, the app's and its version's) and, held off after a
 * failed one, when the first request wakes it again, as `status` says (absent from an older gateway's).
 */
function coldStartStat(stat, idle) {
  const failures = idle.coldStartFailures ?? 0;
  const next = idle.nextWakeAt ?? null;
  const value = h('span', null,
    `${count(idle.coldStarts)}${idle.lastColdStartMs !== null ? `, last ${idle.lastColdStartMs} ms` : ''}`,
    failures > 0 ? h('span', { data: { wakesFailed: failures } }, `; ${count(failures)} ${failures === 1 ? 'wake' : 'wakes'} failed`) : null,
    next !== null ? ['; next wake ', untilSpan(next, { data: { nextWake: next } })] : null);
  const why = idle.timeoutSeconds !== null ? `idle after ${idle.timeoutSeconds} s without a request` : 'woken by --max-workers';
  return stat('cold starts', value, {
    data: { coldStarts: idle.coldStarts },
    class: next !== null ? ['wide', 'bad'] : failures > 0 ? 'warn' : null,
    title: next !== null ? `${why}; its last wake failed: the first request after ${localTime(next)} wakes it again, and until then its requests get 503 at once` : why,
  });
}

/**
 * What the gateway refused (503) for want of room under --max-workers to wake the app: not in
 * `failed`, which the app's own answers make, but unserved all the same, requests and websocket
 * handshakes alike (`status` says both). An older gateway's status has no websocket count.
 */
function refusedForRoomText(app) {
  const requests = app.refusedForRoom ?? 0;
  const websockets = app.websocketsRefusedForRoom ?? 0;
  if (requests === 0 && websockets === 0) return '';
  const what = [
    requests > 0 ? `${count(requests)} ${requests === 1 ? 'request' : 'requests'}` : null,
    websockets > 0 ? `${count(websockets)} websocket ${websockets === 1 ? 'handshake' : 'handshakes'}` : null,
  ].filter(Boolean).join(' and ');
  return `; not the ${what} the gateway refused (503) for want of room under --max-workers to wake it`;
}

/**
 * max_memory below what the app takes (docs/admin.md, a worker's memoryNote): said once for the
 * app, as `status` says it, with the size to raise it to; null when no worker has one.
 */
function renderMemoryNote(el, app) {
  const note = (app.workers ?? []).find((w) => w.memoryNote)?.memoryNote ?? null;
  el.hidden = note === null;
  if (note === null) return el.replaceChildren();
  fill(el, h('p', { data: { memoryNote: '' } }, h('span', { class: 'label' }, 'memory: '), note));
}

/**
 * Incoming mail waiting for the app (docs/mail.md): how much, since when, the last failure, the
 * next attempt and when the first is given up (a dead letter); the gateway's log has a line per
 * failed attempt.
 */
function mailStat(stat, mail) {
  const next = mail.nextAttemptAt === null ? 'every one being attempted now' : ['next ', untilSpan(mail.nextAttemptAt, { data: { mailNext: mail.nextAttemptAt } })];
  const value = h('span', null,
    `${count(mail.waiting)} (${count(mail.retrying)} retrying${mail.attempting > 0 ? `, ${count(mail.attempting)} being attempted` : ''}), oldest `,
    since(mail.oldestReceivedAt, { data: { mailOldest: mail.oldestReceivedAt } }),
    mail.lastFailure
      ? ['; last failed ', mail.lastFailure.at ? agoSpan(mail.lastFailure.at) : null, ': ', h('span', { data: { mailReason: '' } }, mail.lastFailure.reason)]
      : null,
    '; ', next,
    mail.givesUpAt ? ['; given up ', untilSpan(mail.givesUpAt, { data: { mailGivesUp: mail.givesUpAt } }), ' unless delivered'] : null);
  return stat('mail waiting', value, {
    data: { mailWaiting: mail.waiting },
    class: ['wide', mail.lastFailure ? 'bad' : 'warn'],
    title: `deliveries in the spool for this app: ${count(mail.failedAttempts)} failed attempts so far; the gateway's log has a line for each`,
  });
}

/**
 * Why there is no probe to show: `none` (no `health:` path), `pending` (not answered yet), or
 * `unknown` from a gateway older than `healthPath`, where `no probe` said both.
 */
function healthNone(path) {
  return path === undefined ? 'unknown' : path === null ? 'none' : 'pending';
}

function healthText(health, path) {
  if (!health) {
    if (path === undefined) return 'no probe';
    if (path === null) return 'no health: path in app.yaml';
    return h('span', null, h('code', null, `GET ${path}`), ' not probed yet');
  }
  const answer = health.ok ? `${health.status} ok` : health.status !== null ? `${health.status} failed` : `failed: ${health.error ?? 'no answer'}`;
  return h('span', { title: health.error ?? `probe of pid ${health.pid ?? '?'}` },
    h('code', null, `GET ${health.path}`), ` \u2192 ${answer}, `, agoSpan(health.at));
}

function renderProblem(el, problem) {
  el.hidden = !problem;
  if (!problem) return el.replaceChildren();
  fill(el, refusal(problem));
}

/**
 * A refusal (the app's problem, a refused version): code, message, fix, the traceback's tail.
 * `brief`: code and message only (the version's row; the history beside it has the tail).
 * `within`: the history event's message it is shown under.
 */
function refusal(reason, { brief = false, within = '' } = {}) {
  if (brief) {
    return h('div', { class: 'refusal', data: { code: reason.code }, title: reason.hint ? `fix: ${reason.hint}` : undefined },
      h('span', { class: 'code' }, reason.code), ' ', said(reason.message));
  }
  // A history event's message often holds the reason's already: the code is enough then.
  const message = within.includes(reason.message) ? null : reason.message;
  return h('div', { class: 'refusal', data: { code: reason.code } },
    h('p', null, h('span', { class: 'code' }, reason.code), message ? ' ' : null, message ? said(message) : null),
    reason.tail && reason.tail.length ? h('pre', { class: 'tail', data: { tail: '' } }, reason.tail.join('\n')) : null,
    reason.hint ? h('p', { class: 'hint' }, 'fix: ', reason.hint) : null,
    reason.log ? h('p', { class: 'hint' }, 'log: ', h('code', null, reason.log)) : null,
  );
}

// ---------------------------------------------------------------------------------------------
// app -> version -> process: one table, a group row per version, a row per worker or process.

const COLUMNS = [
  ['process', ''], ['pid', 'num'], ['state', ''], ['uptime', 'num'], ['restarts', 'num'],
  ['last exit', ''], ['RSS', 'num'], ['CPU', 'num'], ['in flight', 'num'], ['queued', 'num'], ['served', 'num'],
  ['failed', 'num'], ['p50 / p95 / p99', 'num'], ['ws', 'num'],
];

/** A row's or a version's request figures: the cells in flight .. p99 (a background process has none). */
function requestCells(x) {
  if (x.requests === undefined) {
    return ['inFlight', 'queued', 'requests', 'failed', 'latency'].map((field) => cell(field, DASH, 'num muted'));
  }
  const lat = x.latency ?? {};
  return [
    cell('inFlight', count(x.inFlight), 'num'),
    cell('queued', count(x.queued), ['num', x.queued > 0 ? 'warn' : null]),
    cell('requests', count(x.requests), 'num'),
    cell('failed', count(x.failed), ['num', x.failed > 0 ? 'bad' : null], 'responses with status 500 or above'),
    cell('latency', `${millis(lat.p50)} / ${millis(lat.p95)} / ${millis(lat.p99)}`, 'num', `over the last ${lat.windowSeconds ?? 60} s`),
  ];
}

function processTable(app) {
  // A draining version's workers stay listed under it until they are gone; processes belong to the serving one.
  // The serving version's slots waiting out their back-off (a crash loop) are its rows too.
  const groups = (app.versions ?? []).map((v) => {
    const workers = [...(v.workers ?? []), ...(v.state === 'serving' ? app.restarting ?? [] : [])];
    return { version: v, rows: workers.map((w, i) => workerRow(w, i, v)) };
  });
  if ((app.processes ?? []).length) groups.push({ version: null, label: 'processes', rows: app.processes.map(processRow) });

  const table = h('table', { class: 'procs' },
    h('thead', null, h('tr', null, COLUMNS.map(([name, cls]) => h('th', { class: cls, scope: 'col' }, name)))));
  if (!groups.length) {
    table.append(h('tbody', null, h('tr', null, h('td', { class: 'none', colspan: COLUMNS.length }, 'no versions or processes'))));
  }
  for (const g of groups) {
    const body = h('tbody', { class: 'group', data: g.version ? { version: g.version.version ?? '', versionState: g.version.state } : { group: g.label } });
    body.append(h('tr', { class: 'group-head' }, h('th', { colspan: COLUMNS.length, scope: 'rowgroup' }, groupHead(g))));
    if (g.version && g.version.reason && g.version.state !== 'serving') {
      body.append(h('tr', { class: 'reason' }, h('td', { colspan: COLUMNS.length }, refusal(g.version.reason, { brief: true }))));
    }
    // Absent from a gateway older than the field, null between two steps of the start.
    if (g.version && g.version.waitingFor) {
      body.append(h('tr', { class: 'reason' }, h('td', { colspan: COLUMNS.length }, startWaitText(g.version.waitingFor))));
    }
    append(body, [g.rows]);
    // A command app's version has no workers: its processes are the group below, not "none".
    if (!g.rows.length && (!g.version || (['serving', 'starting'].includes(g.version.state) && !(app.processes ?? []).length))) {
      body.append(h('tr', null, h('td', { class: 'none', colspan: COLUMNS.length }, 'no processes')));
    }
    table.append(body);
  }
  return table;
}

/** What a starting version waits for: `waiting 12s for worker 4121's health probe ...; 3 failed probes, the last: 503 4s ago` (a retry's: `...; the next try in 8s`). */
function startWaitText(wait) {
  const probes = wait.failedProbes;
  return h('div', { class: 'start-wait', data: { waitingFor: wait.for } },
    'waiting ', since(wait.since, { data: { waitingSince: '' } }), ' for ', h('span', { data: { waitingWhat: '' } }, wait.what),
    probes
      ? h('span', { class: 'warn', data: { failedProbes: String(probes.count) } },
          `; ${count(probes.count)} failed ${probes.count === 1 ? 'probe' : 'probes'}, the last: ${probes.status ?? probes.error ?? 'no answer'} `, agoSpan(probes.at))
      : null,
    // A refused version tried again by itself (its database down): when.
    wait.nextAttemptAt ? ['; the next try ', untilSpan(wait.nextAttemptAt, { data: { nextAttempt: wait.nextAttemptAt } })] : null);
}

function groupHead(g) {
  if (!g.version) return h('span', { class: 'group-label' }, g.label);
  const v = g.version;
  const lat = v.latency ?? {};
  return [
    h('span', { class: 'group-label', title: v.dir }, v.version ?? '(unversioned)'), ' ',
    stateBadge(v.state),
    v.requests !== undefined
      ? h('span', { class: 'muted', data: { versionFigures: '' }, title: 'in flight, queued, served, failed; p50 / p95 / p99 over the last minute' },
          ` ${count(v.inFlight)} in flight, ${count(v.queued)} queued, ${count(v.requests)} served, ${count(v.failed)} failed` +
          (lat.p50 !== null && lat.p50 !== undefined ? `, ${millis(lat.p50)} / ${millis(lat.p95)} / ${millis(lat.p99)}` : ''))
      : null,
    v.websockets ? h('span', { class: 'muted' }, `, ${v.websockets} websockets`) : null,
  ];
}

function cell(field, value, cls, title) {
  return h('td', { class: cls, data: { field }, title }, value);
}

function exitCell(exit) {
  if (!exit) return cell('lastExit', DASH, 'muted');
  // A process never spawned (its interpreter or virtualenv gone) ran for no time: why is its title.
  const title = exit.failedToStart
    ? `${localTime(exit.at)}: ${exit.failedToStart}`
    : `pid ${exit.pid ?? '?'} ran ${duration(exit.uptimeSeconds)}, ended ${localTime(exit.at)}${exit.diagnosis ? `: ${exit.diagnosis}` : ''}${exit.reason ? `; its last stderr line: ${exit.reason}` : ''}`;
  return h('td', { class: ['exit', exit.signal || exit.code || exit.failedToStart ? 'bad' : null], data: { field: 'lastExit' }, title },
    h('span', { data: { exit: exitText(exit) } }, exitText(exit)), ' ', agoSpan(exit.at, { class: 'muted' }),
    // What the gateway found it to mean (a program not found, with the fix), then why as far as
    // it said (its last stderr line); both as text: app.yaml's and the app's words are never markup.
    exit.diagnosis ? h('div', { class: 'exit-reason', data: { exitDiagnosis: '' } }, exit.diagnosis) : null,
    exit.reason ? h('div', { class: 'exit-reason', data: { exitReason: '' } }, exit.reason) : null);
}

function workerRow(w, index, version) {
  return h('tr', { class: ['proc', `state-${w.state}`], data: { pid: w.pid ?? '', kind: 'worker', version: version ? version.version ?? '' : undefined } },
    cell('name', `worker ${index + 1}`),
    cell('pid', w.pid ?? DASH, 'num'),
    // How long a stop has taken (a slow ASGI lifespan shutdown), beside its state.
    h('td', { data: { field: 'state' } }, stateBadge(w.state), w.stoppingSince ? [' ', since(w.stoppingSince, { class: 'muted', data: { field: 'stopping' } })] : null),
    h('td', { class: 'num', data: { field: 'uptime' } }, w.startedAt && w.pid && w.state !== 'exited' ? since(w.startedAt) : DASH),
    h('td', { class: ['num', w.restarts > 0 ? 'warn' : null], data: { field: 'restarts' } },
      String(w.restarts ?? 0),
      // Replaced on purpose (max_requests, max_memory, a stuck thread): no restart, but the operator's to know.
      w.recycled > 0 ? h('span', { class: 'muted', data: { field: 'recycled' }, title: recycleTitle(w.lastRecycle) }, ` +${w.recycled} recycled`) : null),
    exitCell(w.lastExit),
    cell('rss', bytes(w.rssBytes), 'num', w.rssBytes ?? undefined),
    cell('cpu', percent(w.cpuPercent), 'num'),
    ...requestCells(w),
    cell('websockets', count(w.websockets), 'num'),
  );
}

function recycleTitle(last) {
  return last ? `last recycled ${localTime(last.at)}: ${last.reason}` : undefined;
}

function processRow(p) {
  const where = [p.route ? `route ${p.route}` : null, p.port ? `port ${p.port}` : null].filter(Boolean).join(', ');
  return h('tr', { class: ['proc', `state-${p.state}`], data: { pid: p.pid ?? '', kind: 'process', process: p.name } },
    h('td', { data: { field: 'name' }, title: where || 'no route' }, p.name, where ? h('span', { class: 'muted' }, ` ${where}`) : null),
    cell('pid', p.pid ?? DASH, 'num'),
    h('td', { data: { field: 'state' } }, stateBadge(p.state)),
    h('td', { class: 'num', data: { field: 'uptime' } }, p.startedAt ? since(p.startedAt) : DASH),
    cell('restarts', String(p.restarts ?? 0), ['num', p.restarts > 0 ? 'warn' : null]),
    exitCell(p.lastExit),
    cell('rss', bytes(p.rssBytes), 'num', p.rssBytes ?? undefined),
    cell('cpu', percent(p.cpuPercent), 'num'),
    ...requestCells(p),
    cell('websockets', p.requests === undefined ? DASH : count(p.websockets ?? 0), p.requests === undefined ? 'num muted' : 'num'),
  );
}

// ---------------------------------------------------------------------------------------------
// History (newest first) and the log tail (oldest first, kept scrolled to the end).

function renderHistory(el, history) {
  const shown = history.slice(-HISTORY_EVENTS).reverse();
  fill(el,
    h('h3', null, 'History', history.length > shown.length ? h('span', { class: 'muted' }, ` (last ${shown.length} of ${history.length})`) : null),
    shown.length
      ? h('ol', { class: 'events' }, shown.map((e) =>
          h('li', { class: `kind-${e.kind}`, data: { history: e.kind } },
            h('span', { class: 'when' }, h('time', { datetime: e.at, title: localTime(e.at) }, clock(e.at))),
            h('span', { class: ['badge', `kind-${e.kind}`] }, e.kind),
            h('span', { class: 'what' },
              e.version !== null || e.from !== null
                ? h('span', { class: 'versions' }, e.from !== null ? `${e.from} \u2192 ` : '', e.version ?? DASH)
                : null,
              ' ', said(e.message),
              // The same event again and again (a version tried through a database outage): one line.
              e.times > 1 ? h('span', { class: 'muted', data: { times: String(e.times) } }, ` (${e.times} times since ${clock(e.at)}, last ${clock(e.lastAt)})`) : null),
            e.reason ? refusal(e.reason, { within: e.message }) : null)))
      : h('p', { class: 'none' }, 'nothing yet'),
  );
}

function renderLog(el, log, access) {
  const box = el.querySelector('.lines');
  const atEnd = !box || box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  const head = h('h3', null, 'Log', log && log.file ? h('code', { class: 'path muted', title: 'the app log file' }, log.file) : null);
  if (!log || log.lines === null || log.lines === undefined) {
    const why = (access && access.why) || 'this client may not read the app log';
    fill(el, head, h('p', { class: 'none', data: { logHidden: '' } }, `Not shown: ${why}`));
    return;
  }
  const lines = log.lines.slice(-LOG_LINES);
  const list = h('ol', { class: 'lines', data: { log: '' } }, lines.map((l) =>
    h('li', { class: ['line', `stream-${l.stream}`], data: { stream: l.stream } },
      h('time', { datetime: l.at, title: localTime(l.at) }, clock(l.at)),
      l.stream === 'stdout' ? null : h('span', { class: 'tag' }, l.stream),
      h('span', { class: 'text' }, l.text))));
  if (!lines.length) list.append(h('li', { class: 'none' }, 'empty'));
  fill(el, head, list);
  if (atEnd) list.scrollTop = list.scrollHeight;
  else if (box) list.scrollTop = box.scrollTop;
}

// ---------------------------------------------------------------------------------------------
// Actions: same-origin POSTs; the answer's message (or error message and fix) is shown.

async function act(c, action) {
  if (c.pending) return;
  const name = c.root.dataset.app;
  c.pending = action;
  showResult(c, 'pending', action === 'restart' ? `Restarting ${name}\u2026` : `Rolling ${name} back\u2026`);
  if (c.app) renderButtons(c, c.app, lastStatus && lastStatus.access);
  try {
    const res = await fetch(`apps/${encodeURIComponent(name)}/${action}`, { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* a proxy's or an old gateway's plain answer */ }
    if (res.ok) {
      showResult(c, 'ok', (body && body.message) || `${action}: done`);
    } else {
      const err = body && body.error;
      const message = err ? [err.message, err.hint ? `fix: ${err.hint}` : null].filter(Boolean).join(' \u2014 ') : text.trim().slice(0, 500);
      showResult(c, 'error', `${action} failed (HTTP ${res.status}): ${message || res.statusText}`);
    }
  } catch (err) {
    showResult(c, 'error', `${action} failed: the gateway did not answer (${err && err.message ? err.message : err})`);
  } finally {
    c.pending = null;
    if (c.app) renderButtons(c, c.app, lastStatus && lastStatus.access);
  }
}

function showResult(c, kind, text) {
  c.result.hidden = false;
  c.result.className = `result result-${kind}`;
  c.result.dataset.actionResult = kind;
  fill(c.result, h('span', { class: 'stamp' }, clock(new Date().toISOString())), ' ', said(text));
}

// ---------------------------------------------------------------------------------------------
// The connection: EventSource reconnects by itself after a network error; it gives up only when
// the answer is not an event stream (a 401, a proxy's error page), and then we try again.

function setConnection(state, text) {
  connection.dataset.connection = state;
  connection.textContent = text;
  document.body.classList.toggle('stale', state !== 'live');
}

function connect() {
  if (connection.dataset.connection !== 'error') setConnection('connecting', 'connecting');
  events = new EventSource('events');
  events.addEventListener('open', () => {
    // A new stream (EventSource reconnects by itself too) starts with the whole status.
    streamStatus = null;
    loginRefused = false;
    // Not "live" yet: over a slow link the whole status comes long after the head, and until
    // then the page shows nothing of this stream (or the status of before a reconnect).
    setConnection('connecting', 'connected, receiving the status');
  });
  const onStatus = (e) => {
    try {
      streamStatus = applyStatusEvent(streamStatus, e.type, e.data);
    } catch (err) {
      console.error(`${e.type} event is not a status or a change to one`, err);
      return;
    }
    if (streamStatus === null) return;
    setConnection('live', 'live');
    render(streamStatus);
  };
  events.addEventListener('status', onStatus);
  events.addEventListener('apps', onStatus);
  events.addEventListener('error', () => {
    if (!loginRefused) setConnection('error', 'disconnected, retrying');
    if (events.readyState === EventSource.CLOSED) {
      events.close();
      // EventSource does not say why it gave up. A 401 is a token that changed under a logged-in
      // page (rotated, the gateway restarted): no retry mends it, the user has to log in again.
      fetch('status', { cache: 'no-store' }).then((res) => {
        loginRefused = res.status === 401;
        if (loginRefused) setConnection('error', 'the gateway refused the login (401): its admin token changed; reload the page and log in with the new one');
      }, () => {});
      setTimeout(connect, RECONNECT_SECONDS * 1000);
    }
  });
}

/**
 * The status after an event: `status` is the whole of it, `apps` is applied to `status` (in
 * place; an app's entry is replaced only when it changed); null before the stream's first.
 * The same as applyStatusEvent of src/admin/status-patch.ts, which test/admin/status-patch runs
 * on this copy too.
 */
function applyStatusEvent(status, event, data) {
  if (event === 'status') return JSON.parse(data);
  if (event !== 'apps' || status === null) return status;
  const patch = JSON.parse(data);
  status.now = patch.now;
  Object.assign(status, patch.changed ?? {});
  for (const key of patch.unset ?? []) delete status[key];
  const removed = new Set(patch.removed ?? []);
  const apps = new Map(status.apps.filter((app) => !removed.has(app.name)).map((app) => [app.name, app]));
  for (const app of patch.apps ?? []) apps.set(app.name, app);
  status.apps = patch.order ? patch.order.flatMap((name) => apps.get(name) ?? []) : [...apps.values()];
  return status;
}

function render(status) {
  lastStatus = status;
  const gatewayNow = Date.parse(status.now);
  if (!Number.isNaN(gatewayNow)) clockOffset = gatewayNow - Date.now();
  renderGateway(status);
  renderNotice(status);
  renderBroken(status);
  renderApps(status);
  document.body.dataset.renderedAt = String(Date.now());
}

setInterval(tick, 1000);
connect();
