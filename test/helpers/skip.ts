// A test that cannot run on this host is skipped, and the run says so. An early `return` in
// the test would be counted as passed; uvu's `test.skip` counts it under "Skipped:" (which
// scripts/test.mjs reports) but names nothing, so each skipped test also prints
// `  (skipped: <test name>: <reason>)` when its suite runs. uvu registers tests while it
// imports the file, so the condition must be known then: a host fact computed up front
// (isRoot, hasProgram, existsSync), never something a `before` hook finds out.
import { spawnSync } from 'node:child_process';
import type { Callback, Test } from 'uvu';

/** What registering a test looks like: `test(name, fn)`. */
export type Register<T> = (name: string, fn: Callback<T>) => void;

export const isRoot = process.getuid?.() === 0;

/** Whether `program` is on PATH (as `command -v` finds it). */
export function hasProgram(program: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

/**
 * `test` itself when `condition` holds; else a register that skips each test and names it
 * with `reason`. Usage: `const ifRoot = runIf(test, isRoot, 'needs root'); ifRoot('name', fn)`.
 */
export function runIf<T>(test: Test<T>, condition: boolean, reason: string): Register<T> {
  if (condition) return test;
  const skipped: string[] = [];
  // Printed when the suite runs, beside its name: uvu imports every file before running any.
  test.before(() => {
    for (const name of skipped) console.log(`  (skipped: ${name}: ${reason})`);
  });
  return (name) => {
    skipped.push(name);
    test.skip(name);
  };
}

/**
 * A Debian package apt has a version of that is not installed here, for a fix that names its
 * install (APPPKG_DEB_MISSING for a name apt does not know says to check the name instead);
 * null where there is none of these, or no dpkg.
 */
export function aptPackageNotInstalled(candidates = ['sl', 'cowsay', 'fortune-mod', 'python3-pendulum']): string | null {
  return candidates.find((pkg) => {
    const installed = spawnSync('dpkg-query', ['-W', '-f', '${Status}', pkg], { encoding: 'utf8', timeout: 10_000 });
    if (installed.error !== undefined || installed.stdout.includes('install ok installed')) return false;
    // apt-cache rebuilds its cache at every call where none is kept (~3 s here, idle): under a
    // full run's load 10 s was too short, and the case was skipped where it could run.
    return spawnSync('apt-cache', ['show', '--no-all-versions', pkg], { stdio: 'ignore', timeout: 60_000 }).status === 0;
  }) ?? null;
}
