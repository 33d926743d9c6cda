// GatewayStatus as the text `apppkg-gateway status` prints: a header, one row per app, then
// per app what a row cannot hold (its versions' and workers' figures, open websockets, the last
// problem with its fix and log), then the broken packages.
// Pure, so it is tested on plain data without a gateway.
import type { AppMailStatus, AppStatus, ExitStatus, GatewayStatus, RefusalStatus, WaitingForStatus, VersionStatus, WorkerStatus } from './status-types.js';
import { countOf, spanOf } from '../count.js';
import { hangingLines } from '../log/hanging-lines.js';

const COLUMNS = ['NAME', 'STATE', 'VERSION', 'WORKERS', 'RESTARTS', 'REQUESTS', 'ERRORS', 'P50', 'P99', 'MOUNT'];

/** Dead letters the table lists; the JSON has every one. */
const DEAD_LETTERS_SHOWN = 10;

export function renderStatusTable(status: GatewayStatus): string {
  const lines: string[] = [];
  lines.push(
    `gateway pid ${status.pid}, version ${status.version}, up since ${status.startedAt}` +
      (status.listen.length > 0 ? `, listening on ${status.listen.join(' ')}` : '') +
      (status.stoppingSince ? `; stopping since ${status.stoppingSince}` : ''),
  );
  lines.push('');
  if (status.apps.length === 0) {
    lines.push('no apps are served');
  } else {
    lines.push(...alignColumns([COLUMNS, ...status.apps.map(appRow)]));
    for (const app of status.apps) {
      const details = appDetails(app, status.now);
      if (details.length > 0) lines.push('', `${app.name}:`, ...details.map((d) => `  ${d}`));
    }
  }
  const mail = status.mail;
  if (mail) {
    lines.push(
      '',
      `mail (${mail.protocol}) on ${mail.listen ?? '-'}: ${mail.received} received, ${mail.delivered} delivered, ${mail.spooled} spooled (${mail.retrying} waiting to retry), ${countOf(mail.deadLetters, 'dead letter')}, ${mail.refused} refused`,
    );
    // SPEC 5.3: a message that can never be delivered is kept and shown: which, and why (the
    // latest few here; --json has them all).
    const shown = [...mail.dead].sort((a, b) => (a.deadAt < b.deadAt ? 1 : a.deadAt > b.deadAt ? -1 : 0)).slice(0, DEAD_LETTERS_SHOWN);
    for (const d of shown) lines.push(`  dead letter ${d.id} to ${d.app || 'no app'} (${d.to.join(', ')}) since ${d.deadAt}: ${d.reason}; ${d.file === null ? 'its message file was missing' : `kept in ${d.file}`}`);
    // `deadLetters` counts them all; `dead` lists the newest (mail-service.ts DEAD_LETTERS_LISTED).
    const total = Math.max(mail.deadLetters, mail.dead.length);
    const json = mail.dead.length >= total ? 'status --json lists every one' : `status --json lists the newest ${mail.dead.length}, STATE/mail/dead/ keeps every one`;
    if (total > shown.length) lines.push(`  and ${total - shown.length} older (${json})`);
    // Older gateways' status has no command: nothing said rather than a command they lack.
    if (total > 0 && mail.retryCommand) lines.push(`  to deliver dead letters again, once their app takes them: ${mail.retryCommand}`);
    if (total > 0 && mail.deleteCommand) lines.push(`  to delete them for good: ${mail.deleteCommand}`);
    // An app in the table has its waiting mail under it; one removed from --apps has no row.
    for (const w of mail.waitingForRemoved ?? []) lines.push(`  ${waitingMailLine(w, status.now, `mail waiting for ${w.app} (no app of this gateway now)`)}`);
  }
  if (status.broken.length > 0) {
    lines.push('', 'broken packages (not served):');
    for (const b of status.broken) lines.push(...hangingLines(`  ${b.dir}: ${b.code}: ${b.message}`, '      ').map(terminalSafe));
  }
  // Last, a fact of the host rather than of the apps: a terminal too short for all cuts it first.
  // Absent from a gateway older than the field.
  if (status.processTrees !== undefined) {
    lines.push('', status.processTrees.cgroup !== null ? `process trees held by the cgroup ${status.processTrees.cgroup}` : `process trees not held by cgroups: ${status.processTrees.why}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * WORKERS as ready/configured. A `platform: command` app has none (its server is its process
 * `web`, a name no other app may give a process), and 0/0 read as an app with nothing running.
 */
function workersCell(app: AppStatus): string {
  const slots = app.workers.length + (app.restarting?.length ?? 0);
  if (slots === 0 && app.processes.some((p) => p.name === 'web')) return '-';
  return `${app.workers.filter((w) => w.state === 'ready').length}/${slots}`;
}

/**
 * A version row of a directory without a `.VERSION` suffix (SPEC 1.2: the version is the
 * suffix), as the page's group label says it: its path printed where the version goes read as
 * a version named `/srv/apps/blog`.
 */
const UNVERSIONED = '(unversioned)';

function appRow(app: AppStatus): string[] {
  return [
    app.name,
    app.state,
    app.version ?? '-',
    workersCell(app),
    String(app.restarts),
    String(app.requests),
    String(app.errors),
    formatMs(app.latency.p50),
    formatMs(app.latency.p99),
    app.mount,
  ];
}

function appDetails(app: AppStatus, now: string): string[] {
  const out: string[] = [];
  for (const v of app.versions) {
    // A version that never served has nothing to count: its state (and reason, below) is enough.
    const counted = v.requests > 0 || v.inFlight > 0 || v.state === 'serving' || v.state === 'draining';
    out.push(`version ${v.version ?? UNVERSIONED} ${v.state}${counted ? `: ${figures(v)}` : ''}`);
    // Absent from an older gateway's status (the CLI may be newer than the gateway it asks).
    if (v.waitingFor) out.push(`  ${startWaitLine(v.waitingFor, now)}`);
    // The app's `workers` line is the serving version's: a draining one's workers (stopping while
    // an ASGI lifespan shutdown runs, say) would otherwise show nowhere until they are gone.
    if (v.state === 'draining' && v.workers.length > 0) out.push(`  its workers: ${workerList(v.workers)}`);
    // A refused version's reason is the app's problem, below, when it is the newest refusal;
    // an older one's would show nowhere. A serving one's is its app.yaml broken since it started.
    if (v.state === 'serving' && v.reason) out.push(`  its app.yaml no longer loads (it runs on as it was started): ${v.reason.code}: ${v.reason.message}`);
    const told = app.problem !== null && v.reason !== null && app.problem.code === v.reason.code && app.problem.message === v.reason.message;
    if (v.state === 'failed' && v.reason && !told) out.push(...hangingLines(`  why: ${v.reason.code}: ${v.reason.message}`, '      ').map(terminalSafe));
  }
  if (app.workers.length > 0) {
    out.push(`workers: ${workerList(app.workers)}`);
  }
  // The same note on each of the version's workers: said once.
  const memoryNote = app.workers.find((w) => w.memoryNote)?.memoryNote;
  if (memoryNote) out.push(`memory: ${memoryNote}`);
  for (const w of app.workers) {
    if (w.lastRecycle) out.push(`worker ${w.pid ?? '?'}: ${countOf(w.recycled, 'worker')} recycled before it, the last at ${w.lastRecycle.at}: ${w.lastRecycle.reason}`);
  }
  for (const w of app.restarting ?? []) {
    const exit = w.lastExit ? `, the last ${exitLine(w.lastExit)}` : '';
    out.push(`a worker ${w.state === 'crash-loop' ? 'in a crash loop' : 'restarting'}: ${countOf(w.restarts, 'restart')}${exit}`);
  }
  if (app.websockets > 0) {
    const held = app.versions.filter((v) => v.websockets > 0).map((v) => `${v.websockets} on ${v.version ?? UNVERSIONED}${v.state === 'draining' ? ' (draining)' : ''}`);
    out.push(`websockets: ${app.websockets} open${held.length > 0 ? `: ${held.join(', ')}` : ''}`);
  }
  for (const p of app.processes) {
    const served = p.requests === undefined ? '' : `, ${p.requests} served, ${p.failed ?? 0} failed`;
    // How it last ended is why it restarts (or loops), as a worker's line says it; no pid while
    // it waits out its delay.
    const exit = p.restarts > 0 && p.lastExit ? `, the last ${exitLine(p.lastExit)}` : '';
    out.push(`process ${p.name}: ${p.pid === null ? '' : `${p.pid} `}${p.state}${p.route ? ` at ${p.route}` : ''}${p.restarts > 0 ? `, ${countOf(p.restarts, 'restart')}` : ''}${exit}${served}`);
  }
  for (const service of app.services ?? []) {
    out.push(`service ${service.name}: ${service.kind} ${service.state}${service.reason ? `: ${service.reason}` : ''}`);
  }
  const wakesFailed = app.idle?.coldStartFailures ?? 0;
  if (app.idle && (app.state === 'idle' || app.idle.coldStarts > 0 || wakesFailed > 0)) {
    const last = app.idle.lastColdStartMs === null ? '' : `, the last in ${app.idle.lastColdStartMs} ms`;
    // Wakes, not requests: the 503s they answered are in ERRORS and the serving version's `failed`.
    const failed = wakesFailed > 0 ? `; ${countOf(wakesFailed, 'wake')} failed` : '';
    out.push(`${app.state === 'idle' ? 'idle since' : 'last active'} ${app.idle.lastActive}; ${countOf(app.idle.coldStarts, 'cold start')}${last}${failed}`);
  }
  // Held off after a failed wake: its requests get the 503 at once until then, and the first one
  // after wakes it again (no change to its files does sooner). Absent from an older gateway's status.
  if (app.idle?.nextWakeAt) {
    const due = Date.parse(app.idle.nextWakeAt) - Date.parse(now);
    out.push(`next wake: at the first request after ${app.idle.nextWakeAt}${due > 0 ? ` (in ${spanOf(due)})` : ''}; until then its requests get 503 at once`);
  }
  // Said apart from ERRORS, which leaves them out as the version lines' `failed` do: the gateway
  // refused them, the app did not fail them, and a reader should still see that requests went unserved.
  if (app.refusedForRoom > 0) {
    out.push(`${countOf(app.refusedForRoom, 'request')} refused by the gateway (503, not in ERRORS): no room under --max-workers to wake it while every running app held a request or a websocket`);
  }
  // Absent from an older gateway's status (the CLI may be newer than the gateway it asks).
  if ((app.websocketsRefusedForRoom ?? 0) > 0) {
    out.push(`${countOf(app.websocketsRefusedForRoom, 'websocket')} refused by the gateway (503): no room under --max-workers to wake it while every running app held a request or a websocket`);
  }
  // Beside the gateway's log line per failed attempt: which app's mail waits, since when, why, and until when.
  if (app.mail) out.push(waitingMailLine(app.mail, now, 'mail waiting'));
  if (app.runsAsRoot) out.push('warning: runs as root');
  if (app.problem) out.push(...problemLines(app.problem));
  return out;
}

/**
 * `mail waiting: 3 deliveries (3 retrying) for 1.2 h, the oldest received at TIME; 14 failed
 * attempts, the last at TIME: the app answered 500; the next attempt at TIME (in 4 min); the
 * first given up at TIME (in 46.8 h), a dead letter, unless delivered before`.
 */
function waitingMailLine(mail: AppMailStatus, now: string, head: string): string {
  const nowMs = Date.parse(now);
  const attempting = mail.attempting > 0 ? `, ${mail.attempting} being attempted` : '';
  let line = `${head}: ${countOf(mail.waiting, 'delivery', 'deliveries')} (${mail.retrying} retrying${attempting}) for ${spanOf(nowMs - Date.parse(mail.oldestReceivedAt))}, the oldest received at ${mail.oldestReceivedAt}`;
  if (mail.lastFailure) {
    const at = mail.lastFailure.at ? ` at ${mail.lastFailure.at}` : '';
    line += `; ${countOf(mail.failedAttempts, 'failed attempt')}, the last${at}: ${terminalSafe(mail.lastFailure.reason)}`;
  }
  if (mail.nextAttemptAt === null) line += '; every one being attempted now';
  else {
    const wait = Date.parse(mail.nextAttemptAt) - nowMs;
    // Due and not yet under way: a free slot (4 attempts per app at once) or the timer's next turn.
    line += `; the next attempt ${wait > 0 ? `at ${mail.nextAttemptAt} (in ${spanOf(wait)})` : 'due now'}`;
  }
  // A gateway older than the field (status run against it after an upgrade) does not say it.
  if (mail.givesUpAt === undefined) return line;
  const left = Date.parse(mail.givesUpAt) - nowMs;
  const when = left > 0 ? `at ${mail.givesUpAt} (in ${spanOf(left)})` : 'at its next attempt';
  return `${line}; ${mail.waiting > 1 ? 'the first ' : ''}given up ${when}, a dead letter, unless delivered before`;
}

/**
 * `waiting for worker 4121's health probe GET /healthz to answer 2xx or 3xx, since TIME (for
 * 12 s); 3 failed probes, the last: 503 at TIME`; a retry's `...; the next try at TIME (in 8 s)`.
 */
function startWaitLine(wait: WaitingForStatus, now: string): string {
  const line = `waiting for ${terminalSafe(wait.what)}, since ${wait.since} (for ${spanOf(Date.parse(now) - Date.parse(wait.since))})`;
  if (wait.nextAttemptAt) {
    const due = Date.parse(wait.nextAttemptAt) - Date.parse(now);
    return `${line}; the next try ${due > 0 ? `at ${wait.nextAttemptAt} (in ${spanOf(due)})` : 'due now'}`;
  }
  const probes = wait.failedProbes;
  if (probes === null) return line;
  return `${line}; ${countOf(probes.count, 'failed probe')}, the last: ${probes.status ?? terminalSafe(probes.error ?? 'no answer')} at ${probes.at}`;
}

/** `with status 1 at TIME; its last stderr line: ModuleNotFoundError: ...`: how and why a process ended. */
/** `exited with status 1 at TIME; ...`, or `failed to start at TIME: why` for one never spawned. */
function exitLine(exit: ExitStatus): string {
  // Absent from an older gateway's status (the CLI may be newer than the gateway it asks).
  if (exit.failedToStart) return `failed to start at ${exit.at}: ${terminalSafe(exit.failedToStart)}`;
  const exited = `exited ${exit.signal ?? `with status ${exit.code}`} at ${exit.at}`;
  const how = exit.diagnosis ? `${exited}: ${terminalSafe(exit.diagnosis)}` : exited;
  return exit.reason ? `${how}; its last stderr line: ${terminalSafe(exit.reason)}` : how;
}

/**
 * `text` with its control characters written as escapes (`\x1b`): an app's own words, printed to
 * a terminal, must not move the cursor, recolour or retitle it. A tab is kept: it moves nothing
 * that the next line does not put back, and a traceback's source lines may hold one.
 */
function terminalSafe(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `1001 ready (40 served, 1 failed), 1002 stopping since 2026-01-01T12:00:00.000Z (...)`. */
function workerList(workers: readonly WorkerStatus[]): string {
  return workers.map((w) => `${w.pid ?? '?'} ${w.state}${w.stoppingSince ? ` since ${w.stoppingSince}` : ''} (${w.requests} served, ${w.failed} failed)`).join(', ');
}

/** What a version answered: served, failed, in flight, queued, p50 and p99 of the last minute. */
function figures(v: Pick<VersionStatus, 'requests' | 'failed' | 'inFlight' | 'queued' | 'latency'>): string {
  return `${v.requests} served, ${v.failed} failed, ${v.inFlight} in flight, ${v.queued} queued, p50 ${formatMs(v.latency.p50)}, p99 ${formatMs(v.latency.p99)}`;
}

/**
 * A refusal as the gateway's log tells it: what happened, then how to fix it and where the whole
 * output is. The code and message alone left the reader of a refused app without the next step.
 */
function problemLines(problem: RefusalStatus): string[] {
  // Its own lines deeper than its `fix:` and `log:`, which would otherwise pass for some of them.
  // An import's refusal carries the app's exception text, and the tail is the app's own output.
  const out = hangingLines(`problem: ${problem.code}: ${problem.message}`, '    ').map(terminalSafe);
  if (problem.hint) out.push(`  fix: ${problem.hint}`);
  if (problem.log) out.push(`  log: ${problem.log}`);
  // Absent when this client may not read the app's log (the admin listener leaves it out).
  if (problem.tail && problem.tail.length > 0) out.push(`  last lines of ${problem.log ?? 'the log'}:`, ...problem.tail.map((l) => `    | ${terminalSafe(l)}`));
  return out;
}

/** Seconds → "12ms" (or "1.5ms" below 10 ms); "-" when there were no requests. */
export function formatMs(seconds: number | null): string {
  if (seconds === null) return '-';
  const ms = seconds * 1000;
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
}
