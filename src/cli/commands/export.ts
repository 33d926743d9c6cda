// `apppkg-gateway export kubernetes|containerfile|venv` (SPEC 5.5, issue 18): argv -> the
// export library (src/export/) -> files or stdout. An app that cannot be mapped is reported
// with its key and fix, the others are written, and the status is 1.
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { countOf } from '../../count.js';
import { makeDirectory } from '../../make-dir.js';
import { validateIngressClass } from '../../export/k8s-names.js';

export const spec: CommandSpec = {
  name: 'export',
  summary:
    'Say the apps again for a cluster (docs/kubernetes.md). kubernetes: per app, the manifests that run it\n' +
    'as the gateway does here (Deployment, probes, drain, Service, Ingress, Secrets, volume, hooks Job,\n' +
    'background processes), each validated against Kubernetes\' schemas; one NAME.yaml per app in --out,\n' +
    'else all on stdout. containerfile: the recipe of the app\'s image (Debian, its deb: and pip:, the\n' +
    'gateway, a user of its own). venv: the app\'s virtualenv built as install does, without\n' +
    'commands.install (the image recipe runs it); as root, pip runs as the app directory\'s owner.\n' +
    'Nothing is built or pushed here.',
  usage:
    'apppkg-gateway export kubernetes --apps DIR [--environment FILE] --image IMAGE [--ingress-class NAME] [--out DIR]\n' +
    '       apppkg-gateway export containerfile APP_DIR [--gateway SPEC] [--out FILE]\n' +
    '       apppkg-gateway export venv APP_DIR [--state-dir DIR]',
  optionHelp: [
    ['--apps DIR', 'kubernetes: the directory holding the app packages, as the gateway\'s --apps'],
    ['-e, --environment FILE', 'kubernetes: the host\'s environment file (settings, hosts, mount, workers, replicas, ...)'],
    ['--image IMAGE', 'kubernetes: each app\'s image; {name} and {version} are the app\'s, e.g. registry.example.com/apps/{name}:{version}'],
    ['--ingress-class NAME', 'kubernetes: each Ingress\'s class (spec.ingressClassName, e.g. nginx); default: none named, the cluster\'s default IngressClass takes it'],
    ['-o, --out PATH', 'kubernetes: a directory for NAME.yaml per app (mode 0600: it holds Secrets); containerfile: the file; default: stdout'],
    ['--gateway SPEC', 'containerfile: what the image\'s npm installs: an npm package spec (default apppkg-gateway@THIS_VERSION, from the registry) or a tarball in the build context (`npm pack` of the gateway, e.g. ./apppkg-gateway-0.1.0.tgz)'],
    ['--state-dir DIR', 'venv: the state root the venv goes under (the image\'s, /var/lib/apppkg-gateway)'],
  ],
  options: {
    apps: { type: 'string' },
    environment: { type: 'string', short: 'e' },
    image: { type: 'string' },
    'ingress-class': { type: 'string' },
    out: { type: 'string', short: 'o' },
    gateway: { type: 'string' },
    'state-dir': { type: 'string' },
  },
  allowPositionals: 2,
  // What --out names depends on the target (a file, a directory): run() says which.
  refusesEmpty: ['out'],
};

/** Which options each target takes: any other given is a usage error, not silently ignored. */
const TARGETS: Record<string, { options: string[]; dir: boolean }> = {
  kubernetes: { options: ['apps', 'environment', 'image', 'ingress-class', 'out'], dir: false },
  containerfile: { options: ['out', 'gateway'], dir: true },
  venv: { options: ['state-dir'], dir: true },
};

const say = (line: string) => process.stderr.write(`apppkg-gateway: ${line}\n`);

function usage(reason: string): GatewayError {
  return new GatewayError('APPPKG_USAGE', { reason, command: 'export' });
}

function report(err: GatewayError): void {
  say(err.format().replace(/\n(?=\S)/g, '\napppkg-gateway: '));
}

export async function run(args: ParsedCommand): Promise<number> {
  const [target, dir] = args.positionals;
  if (target === undefined || !Object.hasOwn(TARGETS, target)) {
    throw usage(`expected kubernetes, containerfile or venv after export, found ${target === undefined ? 'nothing' : JSON.stringify(target)}`);
  }
  const { options, dir: takesDir } = TARGETS[target];
  const stray = Object.keys(args.values).filter((key) => args.values[key] !== undefined && key !== 'help' && !options.includes(key));
  if (stray.length > 0) throw usage(`export ${target} takes no --${stray[0]}`);
  if (takesDir && dir === undefined) throw usage(`expected APP_DIR after export ${target}`);
  if (!takesDir && dir !== undefined) throw usage(`unexpected argument ${JSON.stringify(dir)}: export kubernetes reads --apps DIR`);
  const out = args.values.out as string | undefined;
  // `--out "$OUT_DIR"` with the variable unset: a missing argument, as backup's `--to ""` is.
  if (out === '') {
    throw new GatewayError('APPPKG_USAGE', {
      command: 'export',
      reason: `--out: expected ${takesDir ? 'the file to write the recipe to' : 'a directory to write NAME.yaml per app into'}, found an empty string`,
      fix: `name ${takesDir ? 'a file, e.g. --out Containerfile' : 'a directory, e.g. --out k8s/'}, or leave --out out to print to stdout`,
    });
  }

  // Each target's module is loaded when that target runs: kubernetes' imports Kubernetes' schemas,
  // ~0.25 s of CPU that a containerfile export or a usage error never needs.
  if (target === 'containerfile') {
    const { exportContainerfile } = await import('../../export/containerfile.js');
    const result = await exportContainerfile(dir!, (args.values.gateway as string | undefined) ?? undefined);
    // Written all the same: the image is built elsewhere, from the directory as it is then.
    if (result.unbuildable.length > 0) {
      say(`warning: the image build of ${result.name} will fail at its venv step unless these are in the build context first (its pip reads the image's own pip configuration: offline, from the app directory, unless that or the requirements name an index that has them):`);
      for (const u of result.unbuildable) say(`  ${u}`);
      say(`fix: put the wheels in ${dir} (\`pip download -d ${dir} -r ${result.pip}\`), or vendor them; \`apppkg-gateway install ${dir}\` builds the same venv here`);
    }
    for (const note of result.notes) say(`${result.name}: note: ${note}`);
    for (const u of result.unchecked) say(`warning: ${result.name}: ${u}`);
    if (result.missingGateway !== null) {
      say(`warning: the image build of ${result.name} will fail at its gateway step unless ${result.missingGateway} is in the build context (${dir}) first`);
      say(`fix: run \`npm pack\` in the gateway's checkout and move the tarball into ${dir}, or give --gateway an npm package spec`);
    }
    if (out === undefined) process.stdout.write(result.text);
    else {
      // As kubernetes --out DIR is made: `--out build/Containerfile` in a fresh checkout.
      await makeDirectory(dirname(out)).then(() => writeFile(out, result.text)).catch((err) => {
        throw new GatewayError('APPPKG_EXPORT_WRITE_FAILED', { path: out, out: 'file', reason: (err as Error).message, cause: err });
      });
      say(`wrote ${out}: the image recipe of ${result.name}`);
    }
    return 0;
  }
  if (target === 'venv') {
    const { buildImageVenv } = await import('../../export/image-venv.js');
    await buildImageVenv({ app: dir!, stateDir: args.values['state-dir'] as string | undefined, say: (line) => say(line), output: process.stderr });
    return 0;
  }

  const apps = args.values.apps as string | undefined;
  const image = args.values.image as string | undefined;
  // Said of the one missing: "--apps DIR and --image IMAGE" to a user who gave one had them look for both.
  if (apps === undefined && image === undefined) throw usage('expected --apps DIR and --image IMAGE, found neither');
  if (apps === undefined) throw usage('expected --apps DIR, the directory holding the app packages, found none');
  if (image === undefined) throw usage("expected --image IMAGE, each app's image (e.g. registry.example.com/apps/{name}:{version}), found none");
  const ingressClass = args.values['ingress-class'] as string | undefined;
  // Said in the command line's words, before the export module loads.
  if (ingressClass !== undefined) validateIngressClass(ingressClass, '--ingress-class');
  const { exportKubernetes } = await import('../../export/kubernetes.js');
  const result = await exportKubernetes({ apps, image, environment: args.values.environment as string | undefined, out, ingressClass });
  for (const app of result.apps) {
    if (app.file === null) process.stdout.write(app === result.apps[0] ? app.yaml : `---\n${app.yaml}`);
    else say(`wrote ${app.file}: ${app.name}, ${countOf(app.objects.length, 'object')}`);
    for (const note of app.notes) say(`${app.name}: note: ${note}`);
  }
  for (const file of result.removed) say(`removed ${file}: an earlier export's file of an app no longer under --apps`);
  for (const warning of result.warnings) say(`warning: ${warning}`);
  for (const problem of result.problems) report(problem);
  if (result.problems.length === 0) return 0;
  say(`${countOf(result.apps.length, 'app')} written; not written: ${result.skipped.join(', ')}`);
  return 1;
}
