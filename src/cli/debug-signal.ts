// SIGUSR1 never opens Node's inspector. Node 20 starts its debugger on SIGUSR1 unless a
// listener holds the signal (`--disable-sigusr1` came in Node 22.14), and the inspector takes
// a loopback port where any local user, an app's among them, may run code in the process: as
// root, for a root gateway. nginx and gunicorn users send USR1 to reopen log files
// (logrotate's postrotate), so the signal is sent in earnest. Imported first by main.ts, so that
// the listener is there before anything else runs; the gateway gives the signal its meaning
// (the access log reopened), every other command ignores it.

process.on('SIGUSR1', () => {});
