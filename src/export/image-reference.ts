// `--image`: each app's image, from one template. Each app is its own image (`export
// containerfile APP_DIR` builds one app), so a template for several apps must say `{name}`.
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { baseName, shortHash } from './k8s-names.js';

/**
 * An image reference as container runtimes parse it: [registry[:port]/]path[:tag][@digest],
 * path components lower case (the distribution spec's grammar, without its rarer corners).
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE_REFERENCE = new RegExp(
  `^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);

/** The `--image` the docs and the Containerfile's build line show. */
export const EXAMPLE_IMAGE = 'registry.example.com/apps/{name}:{version}';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HASHED = `-${shortHash('')}`.length;

/**
 * A version as an image tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), since the kubelet refuses any
 * other reference (InvalidImageName). A version that is a tag already stays one (`1.2`, `1.0-rc`).
 * Of any other, what a tag cannot hold becomes `-`, and more than one version would make one tag
 * (`1.0+rc` and `1.0-rc`, `1 0` and `1'0`): pushing one build would overwrite the other, and a
 * rollback would pull the wrong one. A hash of the version keeps each apart, as the hooks Job's
 * name does (`1.0+rc` -> `1.0-rc-3c5a0e`).
 */
export function imageTag(version: string): string {
  if (TAG.test(version)) return version;
  const tag = version.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 128 - HASHED).replace(/[.-]+$/, '');
  return tag === '' ? shortHash(version) : `${tag}-${shortHash(version)}`;
}

/** The image of `desc`: `{name}` as its object name (lower case), `{version}` its version as a tag, or `latest`. */
export function imageFor(template: string, desc: Pick<Description, 'name' | 'version'>): string {
  return template.replaceAll('{name}', baseName(desc.name)).replaceAll('{version}', desc.version === null ? 'latest' : imageTag(desc.version));
}

/**
 * The warning for an app with no version whose image `template` tags with `{version}`: it gets
 * `latest`, the same reference for every build, so a new build's export changes no Deployment
 * and Kubernetes rolls nothing out (while every pod start pulls whatever `latest` is then:
 * imagePullPolicy Always). Null when the app has a version, or the template's tag is the user's.
 */
export function floatingTagWarning(template: string, desc: Pick<Description, 'name' | 'version'>, directory: string): string | null {
  if (desc.version !== null || !template.includes('{version}')) return null;
  const image = imageFor(template, desc);
  const deployment = baseName(desc.name);
  return `WARNING: no version (its directory, ${directory}, has no .VERSION suffix): its image is ${image}, one name for every build, so applying the export of a new build changes no Deployment and rolls nothing out; name the directory ${directory}.VERSION (e.g. ${directory}.1.0) and tag each build with its version, or run \`kubectl rollout restart deployment/${deployment}\` after each push`;
}

/**
 * Why `template` names no image for `desc`, or null. validateImageTemplate judges it with a
 * sample version; an app's own can still break it where `{version}` stands in the repository
 * path, which is lower case (`1.0-RC1`), and the kubelet refuses the pod (InvalidImageName).
 */
export function appImageProblem(template: string, desc: Pick<Description, 'name' | 'version' | 'file'>): GatewayError | null {
  const image = imageFor(template, desc);
  if (IMAGE_REFERENCE.test(image)) return null;
  return new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
    file: desc.file, key: '--image', app: desc.name,
    reason: `expected an image reference, found ${JSON.stringify(image)} (${template} with this app's name and version)`,
    fix: 'put {version} in the tag, after the last ":" (registry.example.com/apps/{name}:{version}), where a version\'s capitals are allowed; a repository path is lower case',
  });
}

/** Throws APPPKG_EXPORT_IMAGE_INVALID when `template` cannot name the images of `apps` apps. */
export function validateImageTemplate(template: string, apps: number): void {
  const sample = imageFor(template, { name: 'app', version: '1.0' });
  if (!IMAGE_REFERENCE.test(sample)) {
    throw new GatewayError('APPPKG_EXPORT_IMAGE_INVALID', { found: template, reason: 'expected an image reference like registry.example.com/apps/{name}:{version}' });
  }
  if (apps > 1 && !template.includes('{name}')) {
    throw new GatewayError('APPPKG_EXPORT_IMAGE_INVALID', { found: template, reason: `expected {name} in the image, since each of the ${apps} apps is its own image` });
  }
}
