// `export containerfile APP_DIR` (SPEC 5.5): the recipe of the app's image, built with the app
// directory as its context: Debian, the app's deb: packages, the gateway, the app, its
// virtualenv from pip:, a user of its own, and the gateway as the command. Every path in it is
// one the manifests use (image-layout.ts). Nothing is built here: docs/kubernetes.md.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadDescription } from '../description/load.js';
import { appUserReader } from '../environment/run-as.js';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import {
  DEBIAN_IMAGE,
  DEBIAN_NAME,
  HTTP_PORT,
  IMAGE_APPS_DIR,
  IMAGE_STATE_DIR,
  IMAGE_UID,
  IMAGE_USER,
  imageAppDir,
  imageAppStateDir,
  imageDataDir,
} from './image-layout.js';
import { unbuildableRequirements } from './image-pip.js';
import { shellLine, shellWord } from '../shell-words.js';
import type { ImageArchitecture } from './image-architecture.js';
import { judgeImageVendor } from './image-vendor.js';
import { EXAMPLE_IMAGE, imageFor } from './image-reference.js';
import { pathsFileRefusal } from '../environment/paths-entries.js';
import { unmappableKeys } from './unmappable.js';

export interface ContainerfileResult {
  name: string;
  version: string | null;
  text: string;
  /** pip: of app.yaml (the requirements file, relative to the app directory). */
  pip: string | null;
  /** What the image's venv step will not find where its pip looks (image-pip.ts), as the app directory is now. */
  unbuildable: string[];
  /** A --gateway tarball the app directory (the build context) does not hold as it is now. */
  missingGateway: string | null;
  /** The architecture assumed for vendored compiled distributions (image-vendor.ts), also in the recipe. */
  notes: string[];
  /** What about them could not be checked here, with how to check it, also in the recipe. */
  unchecked: string[];
}

/** How the recipe names the vendored compiled distributions' architecture, and what was not checked. */
export interface RecipeVendor {
  architecture: ImageArchitecture | null;
  notes: string[];
  unchecked: string[];
}

const NO_VENDOR: RecipeVendor = { architecture: null, notes: [], unchecked: [] };

/** FROM, pinned to the vendored compiled distributions' architecture when there are any. */
function fromLines(vendor: RecipeVendor): string[] {
  const arch = vendor.architecture;
  if (arch === null) return [`FROM ${DEBIAN_IMAGE}`];
  const comments = [...vendor.notes.map((n) => `# ${n}`), ...vendor.unchecked.map((u) => `# WARNING: ${u}`)];
  return [...comments, arch.platform === null ? `FROM ${DEBIAN_IMAGE}` : `FROM --platform=${arch.platform} ${DEBIAN_IMAGE}`];
}

/** The packages the image needs from Debian: the gateway's runtime, the app's interpreter, its deb:. */
export function debianPackages(desc: Pick<Description, 'deb' | 'pip'>): string[] {
  const base = ['ca-certificates', 'nodejs', 'npm', 'python3', ...(desc.pip === null ? [] : ['python3-venv'])];
  return [...new Set([...base, ...desc.deb])];
}

const continued = (lines: string[]): string => lines.join(' \\\n ');

/** The default --gateway: this gateway's version, from the npm registry. */
export function registryGateway(): string {
  return `apppkg-gateway@${packageVersion()}`;
}

/** A --gateway that is a tarball in the build context (`npm pack`'s), not a registry spec. */
function isTarball(gateway: string): boolean {
  return /\.(tgz|tar\.gz)$/.test(gateway) && !/^[a-z][a-z0-9+.-]*:/i.test(gateway);
}

/** The app directory's own stage, when the build context also holds the gateway's tarball. */
const APP_STAGE = 'app-dir';
const APP_STAGE_DIR = '/app';

/**
 * A tarball --gateway lies in the build context, so a COPY of the context copied it into the
 * app's directory too, beside the layer of its own COPY: twice in the image. The app directory
 * is taken from a stage that copies the context and removes the tarball (whose layers the image
 * does not keep), and the gateway step reads the tarball through a bind mount (no layer at all).
 */
function appStage(gateway: string): string[] {
  if (!isTarball(gateway)) return [];
  return [
    `# The app directory without the gateway's tarball (${gateway}): the gateway step below reads it`,
    "# from the build context; only this stage's copy of the directory has it, and the image keeps none.",
    `FROM ${DEBIAN_IMAGE} AS ${APP_STAGE}`,
    `COPY ${JSON.stringify(['.', APP_STAGE_DIR])}`,
    `RUN rm -f ${shellWord(path.posix.join(APP_STAGE_DIR, gateway))}`,
    '',
  ];
}

/** The recipe's lines that install the gateway: from the registry, or from a tarball in the build context. */
function gatewayInstall(gateway: string, missing: boolean): string[] {
  if (!isTarball(gateway)) {
    return ['# The gateway (--gateway: an npm package spec; by default the version that wrote this recipe).', `RUN npm install --global ${gateway} && npm cache clean --force`];
  }
  const mounted = `/tmp/${path.posix.basename(gateway)}`;
  return [
    '# The gateway, from its tarball in the build context (`npm pack` of the gateway, --gateway), mounted',
    '# for this step only: no layer keeps it.',
    ...(missing ? [`# WARNING: when this was written, the app directory had no ${gateway}, so this step fails unless it is added first.`] : []),
    `RUN --mount=type=bind,source=${path.posix.normalize(gateway)},target=${mounted} npm install --global ${shellWord(mounted)} && npm cache clean --force`,
  ];
}

/** The COPY of the app directory: the build context, or the app stage's copy of it without the tarball. */
function appCopy(gateway: string, appDir: string): string {
  const chown = `--chown=${IMAGE_USER}:${IMAGE_USER}`;
  // The JSON form: the directory's name holds the version, which may hold a space.
  if (!isTarball(gateway)) return `COPY ${chown} ${JSON.stringify(['.', appDir])}`;
  return `COPY --from=${APP_STAGE} ${chown} ${JSON.stringify([`${APP_STAGE_DIR}/`, appDir])}`;
}

export function renderContainerfile(desc: Description, unbuildable: string[] = [], gateway = registryGateway(), gatewayMissing = false, vendor = NO_VENDOR): string {
  const appDir = imageAppDir(desc);
  const stateDir = imageAppStateDir(desc.name);
  const label = `${desc.name}${desc.version ? ` ${desc.version}` : ''}`;
  const lines = [
    '# syntax=docker/dockerfile:1',
    `# The image of ${label}, written by \`apppkg-gateway export containerfile\` from its app.yaml.`,
    '# Build it with the app directory as the context (leave .git and __pycache__ out of it with',
    '# a .containerignore), push it, and name it to `export kubernetes --image` (docs/kubernetes.md):',
    // The tag `export kubernetes --image` gives this version: built under another, the pods pull
    // nothing, or another version's build.
    `#   podman build -t ${imageFor(EXAMPLE_IMAGE, desc)} -f Containerfile APP_DIR`,
    ...appStage(gateway),
    ...fromLines(vendor),
    '',
    `# ${DEBIAN_NAME}: its Node.js runs the gateway, its python3 runs the app, and the app's deb:`,
    '# packages are importable there, as on a Debian host (SPEC §1.3).',
    'ENV LANG=C.UTF-8',
    `RUN ${continued([
      'apt-get update',
      '&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends',
      `   ${debianPackages(desc).join(' ')}`,
      '&& rm -rf /var/lib/apt/lists/*',
    ])}`,
    '',
    ...gatewayInstall(gateway, gatewayMissing),
    '',
    `# A user of the image's own (uid ${IMAGE_UID}: the manifests run every pod as it); it owns the`,
    '# state root, where the data volume is mounted, and the app directory, as an app user does on one machine.',
    `RUN ${continued([
      `useradd --system --uid ${IMAGE_UID} --user-group --home-dir ${IMAGE_STATE_DIR} ${IMAGE_USER}`,
      `&& mkdir -p ${shellWord(imageDataDir(desc.name))}`,
      `&& chown -R ${IMAGE_USER}:${IMAGE_USER} ${IMAGE_STATE_DIR}`,
    ])}`,
    '# NAME.VERSION: the gateway reads the same name and version from it as on the host.',
    appCopy(gateway, appDir),
    `USER ${IMAGE_UID}:${IMAGE_UID}`,
  ];
  if (desc.pip !== null) {
    lines.push(
      '',
      `# The virtualenv from ${desc.pip}, as \`apppkg-gateway install\` builds it, without commands.install:`,
      "# the cluster runs that in a Job before the rollout. pip reads the image's own pip configuration: it",
      '# runs offline, from the wheels in the app directory, unless that or the requirements name an index.',
      ...(unbuildable.length > 0
        ? [
            '# WARNING: when this was written, the app directory lacked what pip needs here, so this step fails',
            '# unless it is added to the build context first (`pip download -d APP_DIR -r REQUIREMENTS`) or the',
            "# image's pip configuration names an index that has it:",
            ...unbuildable.map((u) => `#   ${u}`),
          ]
        : []),
      `RUN ${shellLine(['apppkg-gateway', 'export', 'venv', appDir, '--state-dir', IMAGE_STATE_DIR])}`,
    );
  }
  lines.push(
    '',
    "# commands.install runs in the cluster's Job; this marker keeps each pod's gateway from running",
    '# it again at its first start (the gateway writes the same file once an app is installed).',
    `RUN echo ${shellWord(JSON.stringify({ version: desc.version, dir: appDir, by: 'apppkg-gateway export containerfile' }))} > ${shellWord(path.posix.join(stateDir, 'installed.json'))}`,
    '',
    `EXPOSE ${HTTP_PORT}`,
    `CMD ${JSON.stringify(['apppkg-gateway', '--apps', IMAGE_APPS_DIR, '--listen', `0.0.0.0:${HTTP_PORT}`, '--state-dir', IMAGE_STATE_DIR])}`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * The recipe for the app at `dir`. Throws APPPKG_EXPORT_UNMAPPABLE (every problem in
 * `problems`) when the app cannot live in the image: a host path, a file outside its directory.
 */
export async function exportContainerfile(dir: string, gateway = registryGateway()): Promise<ContainerfileResult> {
  if (/\s/.test(gateway) || gateway === '') {
    throw new GatewayError('APPPKG_USAGE', { reason: `--gateway: expected an npm package spec or a tarball path without spaces, found ${JSON.stringify(gateway)}`, command: 'export' });
  }
  // COPY takes its sources from the build context, which is the app directory.
  if (isTarball(gateway) && (path.isAbsolute(gateway) || path.posix.normalize(gateway).startsWith('../'))) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--gateway: expected a tarball path inside the app directory (the build context, which COPY reads from), found ${JSON.stringify(gateway)}; copy it there and name it relative to it: --gateway ./${path.basename(gateway)}`,
      command: 'export',
    });
  }
  // The gateway step's --mount option is comma-separated (key=value,...): a comma or a quote would split it.
  if (isTarball(gateway) && /[,"']/.test(gateway)) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--gateway: expected a tarball path without a comma or a quote (the image build mounts it with --mount=type=bind,source=PATH), found ${JSON.stringify(gateway)}; rename it, e.g. --gateway ./${path.basename(gateway).replace(/[,"']/g, '-')}`,
      command: 'export',
    });
  }
  // As root, the app's files are read as its user could (no environment file here: its directory's owner).
  const readerFor = appUserReader(null);
  const desc = await loadDescription(dir, { readerFor });
  const reader = readerFor?.(desc.name, desc.dir) ?? null;
  // A file in paths: that Python cannot import from: the image's gateway would refuse the app, as serve does.
  const fileInPaths = pathsFileRefusal(desc);
  if (fileInPaths !== null) throw fileInPaths;
  const vendor = await judgeImageVendor(desc, reader);
  const problems = [...unmappableKeys(desc), ...vendor.problems];
  if (problems.length > 0) throw new GatewayError('APPPKG_EXPORT_UNMAPPABLE', { ...problems[0].details, problems });
  const unbuildable = await unbuildableRequirements(desc, reader);
  const missingGateway = isTarball(gateway) && !existsSync(path.join(desc.dir, gateway)) ? gateway : null;
  return {
    name: desc.name,
    version: desc.version,
    text: renderContainerfile(desc, unbuildable, gateway, missingGateway !== null, vendor),
    pip: desc.pip,
    unbuildable,
    missingGateway,
    notes: vendor.notes,
    unchecked: vendor.unchecked,
  };
}
