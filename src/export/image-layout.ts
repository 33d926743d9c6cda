// Where things live inside an app's image (SPEC 5.5): the one place that the image recipe
// (containerfile.ts) and the manifests (kubernetes.ts) both read, so that a path written in a
// Deployment is always one that the Containerfile created.
import path from 'node:path';
import type { Description } from '../description/types.js';

/** Debian 13: its nodejs (20.19) runs the gateway (>= 20.18), its python3 runs the apps. */
export const DEBIAN_IMAGE = 'docker.io/library/debian:trixie-slim';
export const DEBIAN_NAME = 'Debian 13 (trixie)';
/** The python3 of DEBIAN_IMAGE, against which an app's `python:` specifier is checked. */
export const DEBIAN_PYTHON = '3.13.5';
/** The glibc of DEBIAN_IMAGE: the manylinux wheels its python3 loads (PEP 600). */
export const DEBIAN_GLIBC = '2.41';

/** What --apps points at in the container: the image holds its one app there. */
export const IMAGE_APPS_DIR = '/srv/apps';
/** The state root in the container (--state-dir): data, log, tmp, venv under apps/NAME. */
export const IMAGE_STATE_DIR = '/var/lib/apppkg-gateway';
/** A non-root user of the image's own (no host uid carries over into a cluster). */
export const IMAGE_USER = 'apppkg';
export const IMAGE_UID = 10001;

/** The gateway's listener in the pod, and the mail listener's when the app takes mail. */
export const HTTP_PORT = 8000;
export const SMTP_PORT = 2525;

/** Where the pod's environment file is composed (an emptyDir) and read by the gateway. */
export const POD_ENVIRONMENT_DIR = '/run/apppkg-gateway';
export const POD_ENVIRONMENT_FILE = `${POD_ENVIRONMENT_DIR}/environment.json`;
/** Where the ConfigMap's part of it (everything but the secrets) is mounted. */
export const CONFIG_DIR = '/etc/apppkg-gateway';
export const CONFIG_FILE = `${CONFIG_DIR}/environment.json`;

/**
 * The package directory's name in the image: NAME or NAME.VERSION, so that the gateway there
 * derives the same name and version from it as on the host (SPEC §1.2), whatever the
 * directory was called on the host (a symlink, a checkout).
 */
export function imageDirName(desc: Pick<Description, 'name' | 'version'>): string {
  return desc.version === null ? desc.name : `${desc.name}.${desc.version}`;
}

export function imageAppDir(desc: Pick<Description, 'name' | 'version'>): string {
  return path.posix.join(IMAGE_APPS_DIR, imageDirName(desc));
}

/** The app's state directory in the container: STATE/apps/NAME (state-root.ts's layout). */
export function imageAppStateDir(name: string): string {
  return path.posix.join(IMAGE_STATE_DIR, 'apps', name);
}

/** APPPKG_DATA_DIR in the container: where the PersistentVolumeClaim is mounted. */
export function imageDataDir(name: string): string {
  return path.posix.join(imageAppStateDir(name), 'data');
}

/** The app's virtualenv in the container, where the gateway looks for it (state-root.ts). */
export function imageVenvDir(name: string): string {
  return path.posix.join(imageAppStateDir(name), 'venv');
}
