#!/usr/bin/env node
// Renders man/apppkg-gateway.1 (roff) from the CLI's own help texts (src/cli/main.ts's
// GLOBAL_HELP and each command's spec), so that `man apppkg-gateway` and `--help` never
// disagree: package.json's "man" installs it with `npm install -g`. test/cli/man-page.test.ts
// renders the same text and fails when the committed file differs.
//
// Run it with `npm run docs:man` (node --import ./scripts/ts-register.mjs: it reads src/ as it is now).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const MAN_PAGE = join(ROOT, 'man', 'apppkg-gateway.1');

/** roff-safe text: backslashes escaped, a leading dot or quote neutralised. */
function roff(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

function optionList(optionHelp) {
  return optionHelp.map(([flag, text]) => `.TP\n.B ${roff(flag)}\n${roff(text)}`).join('\n');
}

/**
 * The man page for a CLI: `globalHelp` (its usage lines, summary and command list), `gateway`
 * (the spec of the command run without one), and `commands` (name -> spec), in order.
 * @param {{ version: string, globalHelp: string, gateway: { usage: string, summary: string, optionHelp: [string, string][] }, commands: Array<[string, { usage: string, summary: string, optionHelp: [string, string][] }]> }} cli
 */
export function renderManPage({ version, globalHelp, gateway, commands }) {
  const usage = globalHelp.split('\n\n')[0].replace(/^usage: /, '').split('\n').map((l) => l.trim());
  const lines = [
    '.\\" Generated from the CLI help texts by scripts/man-page.mjs: edit them, then run `npm run docs:man`.',
    `.TH APPPKG\\-GATEWAY 1 "" "apppkg\\-gateway ${roff(version)}" "User Commands"`,
    // Ragged right, no hyphenation: flags and paths must read (and copy) as typed.
    '.ad l',
    '.nh',
    '.SH NAME',
    'apppkg\\-gateway \\- serve Python web apps, each a directory with an app.yaml',
    '.SH SYNOPSIS',
    ...usage.map((l) => `.B ${roff(l)}\n.br`),
    '.SH DESCRIPTION',
    roff(gateway.summary),
    '.PP',
    'Without a command, the gateway serves every app package (a directory holding an app.yaml) under',
    '.IR DIR ,',
    'watches it for new versions, and routes each app at its mount. The description format, the',
    'environment file and everything an app is given are in the README and docs/ of the package.',
    '.SH OPTIONS',
    optionList(gateway.optionHelp),
    '.SH COMMANDS',
  ];
  for (const [name, spec] of commands) {
    lines.push(`.SS ${roff(name)}`, `.B ${roff(spec.usage)}`, '.PP', roff(spec.summary));
    if (spec.optionHelp.length > 0) lines.push('.PP', 'Options:', '.RS', optionList(spec.optionHelp), '.RE');
  }
  lines.push(
    '.SH EXIT STATUS',
    '0 success; 1 the command ran and failed: a failed check, an app that does not import, or a file or directory the command line names that is missing or does not hold what it should (an \\-\\-apps DIR that is not there, an \\-\\-environment FILE or an app.yaml with a problem: an unknown key, a bad value, bad YAML); 2 bad usage: the command line itself (an unknown option, a missing or malformed value, an address that is not PORT, HOST:PORT or unix:/path).',
    '.SH ENVIRONMENT',
    '.TP',
    '.B APPPKG_STATE_DIR',
    'the state root when \\-\\-state\\-dir is not given.',
    '.SH FILES',
    '.TP',
    '.I /var/lib/apppkg\\-gateway',
    'the state root when run as root (each app\'s data, log and tmp under apps/NAME).',
    '.SH SEE ALSO',
    '.BR nginx (8),',
    '.BR systemd.service (5)',
    '',
  );
  return lines.join('\n');
}

/**
 * The CLI as it is now: its help texts, read from src/ (scripts/ts-hooks.mjs).
 * @returns {Promise<Parameters<typeof renderManPage>[0]>}
 */
export async function currentCli() {
  const main = await import(pathToFileURL(join(ROOT, 'src', 'cli', 'main.ts')).href);
  const { spec: gateway } = await import(pathToFileURL(join(ROOT, 'src', 'cli', 'commands', 'gateway.ts')).href);
  const commands = [];
  for (const [name, load] of Object.entries(main.COMMANDS)) commands.push([name, (await load()).spec]);
  const { version } = JSON.parse((await import('node:fs')).readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return { version, globalHelp: main.GLOBAL_HELP, gateway, commands };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(MAN_PAGE, renderManPage(await currentCli()));
  console.log(`wrote ${MAN_PAGE}`);
}
