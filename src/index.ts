// apppkg-gateway as a library (SPEC 5.7): `AppPackage` for one app directory (its description,
// check, install, its commands), `Gateway` for serving apps in-process. The CLI is one client
// of these; errors are GatewayErrors, matched on `code` (docs/errors.md).
export { AppPackage } from './app-package.js';
export type { AppPackageOptions, CheckItem, CheckOptions, CheckReport, CommandName, DescribedApp, InstallOptions, InstallResult, RunOptions } from './app-package.js';
export { Gateway } from './gateway.js';
export type { EnvironmentReload, GatewayOptions, GatewayStatus, ListenAddress, MailDeleteAsk, MailDeleteDone, MailRetryAsk, MailRetryDone, UnixSocketOptions } from './gateway.js';
export { GatewayError, isGatewayError, ERROR_CODES } from './errors.js';
export type { ErrorCode, ErrorDetails } from './errors.js';
export { parseAddr, formatAddr } from './net/address.js';
// SPEC 5.5 (issue 18): the apps on Kubernetes, and an app's image recipe. Loaded when called:
// Kubernetes' schemas are megabytes a gateway that serves never needs.
import type * as KubernetesModule from './export/kubernetes.js';
import type * as ContainerfileModule from './export/containerfile.js';
export type { ExportKubernetesOptions, ExportedApp, KubernetesExport } from './export/kubernetes.js';
export type { ContainerfileResult } from './export/containerfile.js';
export const exportKubernetes: typeof KubernetesModule.exportKubernetes = async (...args) => (await import('./export/kubernetes.js')).exportKubernetes(...args);
export const exportContainerfile: typeof ContainerfileModule.exportContainerfile = async (...args) => (await import('./export/containerfile.js')).exportContainerfile(...args);
