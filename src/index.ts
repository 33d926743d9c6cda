// apppkg-gateway as a library (SPEC 5.7): `AppPackage` for one app directory (its description,
// check, install, its commands), `Gateway` for serving apps in-process. The CLI is one client
// of these; errors are GatewayErrors, matched on `code` (docs/errors.md).
export { AppPackage } from './app-package.js';
export type { AppPackageOptions, CheckItem, CheckOptions, CheckReport, CommandName, InstallOptions, InstallResult, RunOptions } from './app-package.js';
export { Gateway } from './gateway.js';
export type { GatewayOptions, GatewayStatus, ListenAddress } from './gateway.js';
export { GatewayError, isGatewayError, ERROR_CODES } from './errors.js';
export type { ErrorCode, ErrorDetails } from './errors.js';
export { parseAddr, formatAddr } from './net/address.js';
