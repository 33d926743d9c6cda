// The trace of a message's receipt (RFC 5321 4.4): the `Received:` field the listener makes,
// kept as the first field of the message's file in the spool (a record of the receipt that
// `STATE/mail/dead/ID.eml` shows, as every spool written since the first version has it), and
// found there again at each delivery: the app is POSTed the message as the client sent it,
// byte for byte (SPEC 5.3: "the raw RFC 822 message", signed as it is), and the trace goes in
// X-Apppkg-Received. Found by reading the file, not by a length in the delivery record: the
// messages an older gateway spooled have no such length, and a dead letter mended by hand
// (docs/mail.md) may have kept the field or not.
import type { FileHandle } from 'node:fs/promises';
import type { SMTPServerSession } from 'smtp-server';

/**
 * The field the listener writes first, its id the spool's (the one the 250 names, "Queued as
 * ID", and the log's lines for its deliveries, as Postfix's Received: carries its queue id);
 * `for` only for a message to one recipient.
 */
export function receivedField(session: SMTPServerSession, me: string, id: string, singleRecipient: string | null): string {
  const helo = session.hostNameAppearsAs || 'unknown';
  const date = new Date().toUTCString().replace('GMT', '+0000');
  const forClause = singleRecipient === null ? '' : `\r\n\tfor <${singleRecipient}>`;
  return `Received: from ${helo}${tcpInfo(session.remoteAddress)}\r\n\tby ${me} (apppkg-gateway) with ${withProtocol(session)} id ${id}${forClause};\r\n\t${date}\r\n`;
}

/**
 * The `with` of the trace line, a Mail Transmission Type of IANA's registry: smtp-server's
 * (RFC 3848: SMTP after HELO, ESMTP after EHLO, LMTP; S and A for TLS and AUTH, which this
 * listener does not offer), and for a transaction whose MAIL FROM said SMTPUTF8, RFC 6531 3.7.3's
 * UTF8SMTP or UTF8LMTP in its place (UTF8SMTP also for ESMTP: there is no UTF8ESMTP).
 */
function withProtocol(session: SMTPServerSession): string {
  const type = session.transmissionType;
  return session.envelope.smtpUtf8 ? `UTF8${type.replace(/^E/, '')}` : type;
}

/**
 * RFC 5321 4.4's TCP-info, the client's address as a literal (IPv6 ones tagged `IPv6:`, as
 * 4.1.3 spells them); none from a unix socket (Postfix's lmtp:unix: transport), which has no
 * address: `([])` there was no literal at all, and the trace line unreadable to its parsers.
 */
function tcpInfo(address: string | undefined): string {
  if (!address) return '';
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return v4 !== null ? ` ([${v4[1]}])` : ` ([IPv6:${address}])`;
}

/** The gateway's trace at the head of a spooled message: its bytes there, and X-Apppkg-Received's value. */
export interface SpooledTrace {
  bytes: number;
  header: string;
}

/**
 * Longer than any field receivedField() makes: its HELO name and recipient are each one SMTP
 * command line (smtp-server takes at most a few KiB), the rest a few dozen bytes.
 */
const TRACE_MAX_BYTES = 16 * 1024;

/**
 * The field receivedField() wrote, at the start of the file `handle` holds, or null when the
 * file does not begin with one (mended by hand without it). Recognised by its `by` clause's
 * comment, which every version wrote: a client's own `Received:` fields come after it, so the
 * first field of a file the spool wrote is always the gateway's.
 */
export async function readSpooledTrace(handle: FileHandle): Promise<SpooledTrace | null> {
  const head = Buffer.alloc(TRACE_MAX_BYTES);
  let got = 0;
  while (got < head.length) {
    const { bytesRead } = await handle.read(head, got, head.length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return spooledTrace(head.subarray(0, got));
}

/** readSpooledTrace() on the bytes read. */
export function spooledTrace(head: Buffer): SpooledTrace | null {
  if (!head.subarray(0, PREFIX.length).equals(PREFIX)) return null;
  // The field ends at the first CRLF that no space or tab continues (RFC 5322 2.2.3 folding).
  let end = -1;
  for (let i = head.indexOf('\r\n', 0, 'latin1'); i !== -1 && i + 2 < head.length; i = head.indexOf('\r\n', i + 2, 'latin1')) {
    if (head[i + 2] !== 0x20 && head[i + 2] !== 0x09) {
      end = i + 2;
      break;
    }
  }
  if (end === -1) return null;
  const field = head.subarray(PREFIX.length, end - 2);
  if (field.indexOf(OURS) === -1) return null;
  return { bytes: end, header: headerValue(field) };
}

const PREFIX = Buffer.from('Received: ', 'latin1');
const OURS = Buffer.from(' (apppkg-gateway) with ', 'latin1');

/**
 * The field's text unfolded (each fold one space) as an HTTP field value, which is best kept
 * ASCII: every other byte (an SMTPUTF8 recipient's UTF-8, a stray 8-bit byte of a HELO name),
 * and `%` itself, percent-encoded, so that unquote() gives the text back exactly, as for the
 * envelope headers (mail-post.ts).
 */
function headerValue(field: Buffer): string {
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const byte = field[i];
    if (byte === 0x0d && field[i + 1] === 0x0a) {
      i++;
      while (field[i + 1] === 0x20 || field[i + 1] === 0x09) i++;
      out += ' ';
    } else if (byte < 0x20 || byte > 0x7e || byte === 0x25) {
      // A tab within a line is kept as a space: an HTTP field value may hold one, but a fold's
      // tab and a line's would then read differently.
      out += byte === 0x09 ? ' ' : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out;
}
