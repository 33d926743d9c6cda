// What docs/mail.md's "Behind Postfix" tells a user to put in main.cf, read from the page itself
// so that the tests run Postfix with those very lines, and the Received: field Postfix puts
// before each message it relays.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { ROOT } from './process.js';

/** The socket docs/mail.md puts in Postfix's private/ directory, relative to Postfix's queue directory. */
export const PRIVATE_SOCKET = 'private/apppkg-lmtp';

/** The page's example domain and gateway address, put in their place by behindPostfixLines. */
const DOC_DOMAIN = 'help.example.com';
const DOC_ADDRESS = '127.0.0.1:2525';

/**
 * The main.cf lines of docs/mail.md's "Behind Postfix" for a gateway speaking `protocol` on
 * 127.0.0.1:`port` (`lmtp-unix`: on PRIVATE_SOCKET, which needs no port): the page's own block
 * (the one whose transport is `lmtp:inet:`, `smtp:[` or `lmtp:unix:`), its example domain made
 * `domains`, each routed as the page routes it.
 */
export function behindPostfixLines(protocol: 'lmtp' | 'smtp' | 'lmtp-unix', domains: string[], port?: number): string[] {
  const page = readFileSync(join(ROOT, 'docs', 'mail.md'), 'utf8');
  const section = /^## Behind Postfix\n([\s\S]*?)^## /m.exec(page)?.[1];
  assert.ok(section, 'docs/mail.md has a "Behind Postfix" section');
  const transport = { lmtp: `lmtp:inet:${DOC_ADDRESS}`, smtp: `smtp:[${DOC_ADDRESS.replace(':', ']:')}`, 'lmtp-unix': `lmtp:unix:${PRIVATE_SOCKET}` }[protocol];
  const block = fencedBlocks(section!).find((text) => text.includes(`=${transport}`));
  assert.ok(block, `docs/mail.md's "Behind Postfix" has main.cf lines with the transport ${transport}`);
  const lines = block!.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const domain = DOC_DOMAIN.replace(/\./g, '\\.');
  return lines.map((line) => {
    const routed = line.replace(new RegExp(`${domain}=(\\S+?)(?=[ ,}])`), (_, via: string) => domains.map((name) => `${name}=${via}`).join(', '));
    const named = routed.replace(new RegExp(`\\b${domain}\\b`), domains.join(', '));
    return port === undefined ? named : named.replace(/(127\.0\.0\.1\]?):2525\b/g, `$1:${port}`);
  });
}

/** The text of each fenced code block of `markdown`, in order. */
function fencedBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let open: string[] | null = null;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      if (open === null) open = [];
      else {
        blocks.push(open.join('\n'));
        open = null;
      }
    } else open?.push(line);
  }
  return blocks;
}

/**
 * A relayed message split into the Received: field Postfix put first (`by mx.postfix.test
 * (Postfix) with ESMTP id QID`, folded lines included) and the rest, the message as submitted.
 */
export function splitPostfixTrace(body: Buffer, qid: string): { trace: Buffer; rest: Buffer } {
  const text = body.toString('latin1');
  const field = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(text);
  assert.ok(field, `the message begins with a Received: field:\n${text.slice(0, 400)}`);
  assert.match(field![0].replace(/\r\n[ \t]+/g, ' '), new RegExp(`by mx\\.postfix\\.test \\(Postfix\\) with ESMTP id ${qid}\\b`), "Postfix's own Received: field, of the message's queue id");
  const end = Buffer.byteLength(field![0], 'latin1');
  return { trace: body.subarray(0, end), rest: body.subarray(end) };
}
