// Builds the app's virtualenv for `pip:` (SPEC §3 `install`): `<interpreter> -m venv` into a
// new directory, then pip from the app's files and what the host's pip configuration names (offline
// when nothing names an index or --find-links), then the switch (environment/venv.ts).
// Unchanged requirements and interpreter: the venv is reused as it is.
import { chown, lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { placeOf } from '../description/key-place.js';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import type { Interpreter } from '../environment/interpreter-probe.js';
import { formatInterpreter } from '../environment/interpreters.js';
import { keepUnloadableWheels } from '../environment/pip-unloadable.js';
import type { RunAs } from '../environment/run-as.js';
import { namesAnIndex } from '../environment/requirements.js';
import { readFileAsUserCould, UserCannotRead, type FileReader } from '../environment/user-readable.js';
import { adoptRequirementsTree, judgeVenv, newVenvBuildDir, removeStaleVenvBuilds, removeVenvBuild, switchVenv, venvBuildOf, wantedStamp, writeVenvStamp } from '../environment/venv.js';
import { processesOfApp } from './running-app.js';
import { pipCommandArgs } from './pip-command.js';
import { asAppUser, ignoredPipSettings, pipEnvironment } from './pip-environment.js';
import { hostPipSources, pipUnimportable } from './pip-host-config.js';
import { OutputTail } from './output-tail.js';
import { failedSubprocessOutput } from './pip-hidden-output.js';
import { buildDependenciesFailed, missingBuildDependency, sourceRequirement } from './pip-source-requirement.js';
import { unlistedWheelDirs } from './pip-wheel-dirs.js';
import { interpreterTag, unloadableWheels } from './pip-wheel-tags.js';
import { quiet, seconds, type Say } from './progress.js';
import { runProgram } from './run-command.js';
import { seedVenv } from './venv-seed.js';

/** pip's last lines an install failure carries, for a caller whose output stream kept none (errors.ts). */
const PIP_TAIL_LINES = 6;
/** Lines looked through for pip's own `ERROR:` lines, past its retries' warnings. */
const PIP_TAIL_SCAN = 30;

/** pip's closing `ERROR:` lines where it wrote some (its retries' warnings before them say less), else its last lines (a traceback's end). */
function pipTail(lines: string[]): string[] {
  const errors = lines.filter((line) => line.startsWith('ERROR: '));
  return (errors.length > 0 ? errors : lines).slice(-PIP_TAIL_LINES);
}

export interface InstallVenvOptions {
  desc: Pick<Description, 'dir' | 'pip' | 'deb' | 'file' | 'positions'>;
  interpreter: Interpreter;
  /** appStateDirs(...).venv */
  venvPath: string;
  /** The state root's cache directory (stateCacheDir), where the venv seeds are kept; null: none. */
  seedCacheDir: string | null;
  /** Build even when the stamp matches (a wheel replaced under the same name, say). */
  rebuild?: boolean;
  say?: Say;
  /** Where venv's and pip's output goes; default: ours. */
  output?: Writable;
  /**
   * The app's data directory (appStateDirs(...).data): while a process of the app runs (a gateway
   * serving it, which runs on the build the link led to: supervisor/version-judge.ts), the previous
   * build is kept at the switch, for that gateway to remove once no version runs on it.
   */
  appDataDir?: string;
  /**
   * Point the venv link at the new build (default). false: leave the link, and the build to
   * the caller, who switches (switchVenv) or removes it: a deploy under --apps switches only
   * once the version that needs it has started, so a refused version leaves the old venv.
   */
  switchWhenBuilt?: boolean;
  /**
   * When we are root and the app runs as another user (resolveRunAs): venv and pip, and what
   * pip builds (a setup.py, a build backend), run as that user in a build it owns, HOME its own,
   * TMPDIR and pip's cache in `tmpDir` (the app's TMPDIR, which it owns); the requirements are
   * read only where that user could read them. Else everything runs as we are.
   */
  asUser?: { runAs: RunAs; tmpDir: string } | null;
}

export interface InstallVenvResult {
  reused: boolean;
  /** The build directory the venv link points at. */
  dir: string;
}

export async function installVenv(opts: InstallVenvOptions): Promise<InstallVenvResult> {
  const say = opts.say ?? quiet;
  const requirements = path.resolve(opts.desc.dir, opts.desc.pip!);
  const as = opts.asUser && !opts.asUser.runAs.isRoot && process.getuid?.() === 0 ? opts.asUser : null;
  const reader = as?.runAs ?? null;
  // A mistake of app.yaml's `pip:`, placed at its line as check places it (SPEC §1.1), not at the file it names.
  const at = placeOf(opts.desc, ['pip']);
  try {
    await readFileAsUserCould(requirements, reader);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err);
    const user = err instanceof UserCannotRead ? { user: err.reader.user } : {};
    throw new GatewayError('APPPKG_PIP_FILE_UNREADABLE', { key: 'pip', requirements, reason, ...user, cause: err, ...(at ?? {}) });
  }
  // deb packages are importable only with the system site-packages (SPEC §1.3): keep them so.
  const systemSite = opts.desc.deb.length > 0;
  const wanted = await wantedStamp(opts.desc.dir, requirements, opts.interpreter, systemSite, reader).catch((err: unknown) => {
    // An include the user cannot read: named, none of it shown.
    throw err instanceof UserCannotRead ? new GatewayError('APPPKG_PIP_FILE_UNREADABLE', { key: 'pip', requirements: err.file, reason: err.message, user: err.reader.user, cause: err, ...(at ?? {}) }) : err;
  });
  const verdict = await judgeVenv(opts.venvPath, opts.interpreter, wanted);
  if (verdict.current && !opts.rebuild) {
    await adoptRequirementsTree(verdict.dir, verdict.stamp, wanted);
    say(`==> venv reused: ${opts.venvPath} (requirements and interpreter unchanged, sha256 ${wanted.requirementsSha256.slice(0, 12)})`);
    return { reused: true, dir: verdict.dir };
  }
  // Under the gateway (switchWhenBuilt false), or while the app runs (a gateway serving it), a
  // build beside the link may be a version's that still runs: the gateway removes those once none does.
  const running = opts.switchWhenBuilt === false || opts.appDataDir === undefined ? [] : await processesOfApp(opts.appDataDir);
  if (opts.switchWhenBuilt !== false && running.length === 0) await removeStaleVenvBuilds(opts.venvPath);
  const why = opts.rebuild ? '--rebuild' : verdict.current ? '' : verdict.why;
  const dir = newVenvBuildDir(opts.venvPath, wanted);
  const pip = pipEnvironment();
  const env = as ? asAppUser(pip.env, as.runAs, as.tmpDir) : pip.env;
  const ignored = pip.ignored;
  const owner = as ? { uid: as.runAs.uid, gid: as.runAs.gid } : undefined;
  // The app's user makes its venv in a directory we made for it: it may not write beside it.
  const makeBuildDir = async () => {
    if (!owner) return;
    await mkdir(dir, { mode: 0o755 });
    await chown(dir, owner.uid, owner.gid);
  };
  say(`==> creating venv with ${formatInterpreter(opts.interpreter)}: ${why}`);
  try {
    let started = performance.now();
    // `-m venv` puts its working directory first on sys.path: in the app directory, an app's
    // venv.py or ensurepip.py ran in place of the standard library's. The build's parent holds
    // only the gateway's names; `-m venv` used to make it (`export venv` into a new state root).
    const venvCwd = path.dirname(dir);
    await mkdir(venvCwd, { recursive: true, mode: 0o755 });
    await makeBuildDir();
    const seedOptions = { interpreter: opts.interpreter, systemSite, dir, cwd: venvCwd, env, output: opts.output, say, owner };
    const seeded = opts.seedCacheDir !== null && (await seedVenv({ ...seedOptions, cacheDir: opts.seedCacheDir }));
    if (!seeded) {
      // The full `-m venv`, as before the seed: its failure is the one the user is told of.
      await removeVenvBuild(dir);
      await makeBuildDir();
      const args = ['-m', 'venv', ...(systemSite ? ['--system-site-packages'] : []), dir];
      const venvStatus = await runProgram({ file: opts.interpreter.executable, args, cwd: venvCwd, env, output: opts.output, uid: owner?.uid, gid: owner?.gid });
      if (venvStatus !== 0) {
        throw new GatewayError('APPPKG_VENV_FAILED', { path: dir, python: opts.interpreter.executable, reason: `\`-m venv\` exited with status ${venvStatus}` });
      }
    }
    await assertVenvMade(dir, opts.interpreter.executable);
    say(`==> venv created in ${seconds(started)}${seeded ? ' (pip from the seed)' : ''}`);

    started = performance.now();
    const requirementsDir = path.dirname(requirements);
    const python = path.join(dir, 'bin', 'python');
    // Where the host's pip looks (its mirror, its wheelhouse), as `pip install` in its shell would;
    // a destination of the host's is refused here, before pip runs.
    const host = await hostPipSources({ python, env, venvDir: dir, as: owner && { ...owner, cwd: venvCwd } });
    // A requirements line naming a wheel by its name (thepkg==1.0) resolves through --find-links.
    const findLinks = [...new Set([opts.desc.dir, requirementsDir])].flatMap((d) => ['--find-links', d]);
    // pip's log, beside its console output (which goes to the terminal untouched): its
    // failure is read there for the hint.
    const pipLog = path.join(dir, 'apppkg-pip.log');
    // Offline unless the requirements or the host name a source: --no-index outranks a file's
    // --index-url line, and the author's (or the host's) choice of where the packages come from
    // was dropped; with neither, no request leaves for pypi.org, pip's default.
    const index = await ownIndex(opts.desc.dir, wanted.requirementsTree?.files ?? {}, reader);
    const offline = !index && host.named.length === 0;
    const noIndex = offline ? ['--no-index'] : [];
    // --src: editable checkouts in the venv (pip's default there), whatever a pip.conf says.
    const pipArgs = pipCommandArgs(['install', ...noIndex, ...findLinks, '--src', path.join(dir, 'src'), '--log', pipLog, '-r', requirements]);
    const from = [...(index ? ['the index it names'] : []), ...(host.named.length > 0 ? [`the host's pip configuration: ${host.named.join(', ')}`] : [])];
    say(`==> pip install${offline ? ' --no-index' : ''} -r ${requirements}${from.length > 0 ? ` (from ${from.join(', and ')})` : ''}`);
    if (host.unread) say(`==> the host's pip configuration (${host.unread.files.join(', ')}) is not read: ${host.unread.noPip ? `the virtualenv's pip cannot be imported (${host.unread.reason})` : host.unread.reason}`);
    if (ignored.length > 0) say(`==> ${ignoredPipSettings(ignored)}`);
    // Output sent to a stream of the caller's: its end kept for the error, in case that stream keeps nothing.
    const pipOutput = opts.output && new OutputTail(opts.output);
    const pipStatus = await runProgram({ file: python, args: pipArgs, cwd: requirementsDir, env, output: pipOutput, uid: owner?.uid, gid: owner?.gid });
    if (pipStatus !== 0) {
      // Written by the app's user, who could have made it a link to a file of root's.
      const log = await readFileAsUserCould(pipLog, reader).then((b) => b.toString('utf8'), () => '');
      // Where pip's console said "See above for output": the log, removed with the build below.
      const hidden = failedSubprocessOutput(log);
      if (hidden.length > 0) {
        const to = opts.output ?? process.stderr;
        to.write(`==> what pip's console left out ("See above for output"), from its log:\n${hidden.map((l) => `  ${l}\n`).join('')}`);
      }
      // Asked now if not before: a pip that cannot be imported failed before any requirement.
      const noPip = host.unread?.noPip ? host.unread.reason : host.pipAnswered ? null : await pipUnimportable({ python, env, as: owner && { ...owner, cwd: venvCwd } });
      // A build backend is what offline pip cannot fetch, and what an index (a mirror of some
      // packages) may lack: with one, the log tells whether that, or the build itself, failed.
      const source = offline || buildDependenciesFailed(log) ? sourceRequirement((await readFileAsUserCould(requirements, reader)).toString('utf8')) : null;
      const unloadable = source ? [] : unloadableWheels(log);
      const wheels = source || unloadable.length > 0 ? null : await unlistedWheelDirs(opts.desc.dir, requirements, log);
      // Else the requirement pip named ("No matching distribution found for X") goes in the fix,
      // which otherwise left it to pip's output, above it or in the app log.
      const notFound = source || unloadable.length > 0 || wheels ? null : missingBuildDependency(log);
      const unloadableDetails = unloadable.length > 0 ? { unloadable: unloadable.map((w) => `${w.file} (${w.tags})`), python: formatInterpreter(opts.interpreter), executable: opts.interpreter.executable, pythonTag: interpreterTag(opts.interpreter) } : null;
      // check, which finds the requirements not installed, says the same of those wheels.
      await keepUnloadableWheels(opts.venvPath, unloadableDetails && { requirementsSha256: wanted.requirementsTree!.sha256, executable: opts.interpreter.executable, at: new Date().toISOString(), details: unloadableDetails });
      throw new GatewayError('APPPKG_PIP_INSTALL_FAILED', {
        requirements,
        status: pipStatus,
        ...(source ? { source, backend: missingBuildDependency(log) } : {}),
        ...(unloadableDetails ?? {}),
        ...(wheels ? { missing: wheels.missing, findLinks: wheels.lines } : {}),
        ...(notFound !== null ? { notFound } : {}),
        ...(ignored.length > 0 ? { ignored } : {}),
        ...(index ? { index: true } : {}),
        ...(host.named.length > 0 ? { hostSources: host.named } : {}),
        ...(host.unread ? { configUnread: host.unread.files, ...(host.unread.noPip ? {} : { configUnreadReason: host.unread.reason }) } : {}),
        ...(noPip !== null ? { noPip } : {}),
        ...(pipOutput ? { pipTail: pipTail(pipOutput.lines(PIP_TAIL_SCAN)) } : {}),
        pipFile: opts.desc.pip,
      });
    }
    // Not recursive: whatever the app's user left there is not walked by us.
    await rm(pipLog, { force: true }).catch(() => {});
    await keepUnloadableWheels(opts.venvPath, null);
    say(`==> requirements installed in ${seconds(started)}`);

    // The stamp last: a build without it never counts as current.
    await writeVenvStamp(dir, { ...wanted, createdAt: new Date().toISOString() });
    if (opts.switchWhenBuilt === false) return { reused: false, dir };
    // Removed under a serving version, its requests failed as they read their libraries, and its next worker could not start.
    const previous = running.length > 0 ? await venvBuildOf(opts.venvPath).catch(() => null) : null;
    await switchVenv(opts.venvPath, dir, previous !== null);
    if (previous !== null && previous !== dir) {
      say(`==> the previous venv build ${path.basename(previous)} is kept: the app runs on it (pid ${running.slice(0, 3).join(', ')}${running.length > 3 ? ', ...' : ''}); the gateway serving it removes it once no version runs on it; a restart of the app starts it on the new one`);
    }
  } catch (err) {
    await removeVenvBuild(dir);
    throw err;
  }
  say(`==> venv ready: ${opts.venvPath} -> ${path.basename(dir)}`);
  return { reused: false, dir };
}

/**
 * A `-m venv` that exits 0 yet makes no interpreter (a sitecustomize that exits early, a
 * patched venv module) was said to be created until pip failed to start in it (status 127).
 * Looked at with lstat: the build is the app's user's.
 */
async function assertVenvMade(dir: string, python: string): Promise<void> {
  if (await lstat(path.join(dir, 'bin', 'python')).then(() => true, () => false)) return;
  throw new GatewayError('APPPKG_VENV_FAILED', { path: dir, python, reason: '`-m venv` exited with status 0 but made no bin/python' });
}

/** Whether a file of the requirements' tree (`files`, relative to `appDir`) names a package index. */
async function ownIndex(appDir: string, files: Record<string, string | null>, reader: FileReader | null): Promise<boolean> {
  for (const [file, sha] of Object.entries(files)) {
    if (sha === null) continue;
    const text = await readFileAsUserCould(path.resolve(appDir, file), reader).then((b) => b.toString('utf8'), () => '');
    if (namesAnIndex(text)) return true;
  }
  return false;
}
