// serve --reload: a change under the app's directory restarts its workers, or starts it afresh
// when nothing serves; while it cannot start, the terminal says why and that it waits, and
// requests are answered 503 saying so (issue 13, item 6), rather than the command exiting.
import { relative } from 'node:path';
import type { GatewayError } from './errors.js';
import type { Front } from './proxy/front.js';
import type { Registry } from './supervisor/registry.js';
import { SourceWatcher } from './supervisor/watcher.js';

/** serve --reload's line when the app cannot start: why, and that it waits rather than exits. */
function waitingForFix(problem: GatewayError, dir: string): string {
  return `${problem.format()}\nwaiting for a change under ${dir} to try again (--reload; Ctrl-C to stop)`;
}

/** What a request is answered (503) while serve --reload waits for a fix. */
function unavailableWhileBroken(problem: GatewayError): string {
  return `the app could not start (${problem.message}); serve --reload is waiting for a fix: see its terminal`;
}

/**
 * The one app serve runs, as the access log names it: its record's, or, when its app.yaml does
 * not load, its directory's (as status names a broken package).
 */
function appName(registry: Registry): string | null {
  return registry.knownNames[0] ?? null;
}

/** serve --reload's start that failed: said, and answered for, until a change mends it. */
export function waitForFix(problem: GatewayError, dir: string, registry: Registry, front: Front, say: (line: string) => void): void {
  say(waitingForFix(problem, dir));
  front.setUnavailable(unavailableWhileBroken(problem), appName(registry));
}

/**
 * The watcher of `dir` that serve --reload runs (not yet started). A change seen before
 * `firstStartJudged` (a save during the first start) waits for it: that start's outcome, and
 * its "waiting for a change" line, come first, then the change is tried. That start is one of
 * the watcher's runs: what the app writes into its directory as it imports restarts it once,
 * not at every import (SourceWatcher).
 */
export function watchForReload(dir: string, registry: Registry, front: Front, say: (line: string) => void, firstStartJudged: Promise<void>): SourceWatcher {
  const watcher: SourceWatcher = new SourceWatcher(dir, async () => {
    if (watcher.stopped) return;
    // Nothing serves (the start failed, or every try since): a restart has nothing to
    // replace, so start it afresh, retrying the version refused before.
    const serving = registry.names.some((name) => registry.serves(name));
    say(serving ? 'change detected; restarting workers' : 'change detected; starting the app');
    await (serving ? registry.restart(undefined, 'reloaded') : registry.reconcile(true));
    const problem = registry.problemOf();
    if (!serving && problem !== null) say(waitingForFix(problem, dir));
    front.setUnavailable(problem !== null && !registry.names.some((name) => registry.serves(name)) ? unavailableWhileBroken(problem) : null, appName(registry));
  }, undefined, (files) => say(ownWritesLine(files, dir)));
  watcher.runningUntil(firstStartJudged);
  return watcher;
}

/** What serve --reload says when it restarts nothing for the files the app wrote again as it started. */
function ownWritesLine(files: string[], dir: string): string {
  const named = files.map((file) => relative(dir, file)).sort().join(', ');
  const them = files.length === 1 ? 'it' : 'them';
  return `${named} changed again during the restart made for ${them}: taken for the app's own writes as it imports; not restarting for ${them} (--reload: a save restarts it)`;
}
