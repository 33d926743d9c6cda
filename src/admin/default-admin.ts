// The admin listener's default address, alone: `status`, `logs` and the gateway's help name it,
// and importing it from the admin server loaded that server (and the YAML parser behind it)
// into every one of those commands.

/** Where the gateway serves its admin listener unless --admin says otherwise, and where `status` looks. */
export const DEFAULT_ADMIN = '127.0.0.1:8099';
