// The SMTP (or LMTP) listener (SPEC 5.3), on smtp-server: the protocol, pipelining, SIZE,
// dot-unstuffing, per-recipient LMTP replies and the idle timeout are the library's; what is
// ours is who may receive (mail-routes.ts) and that a 250 means "on disk" (mail-spool.ts).
//
// Every refusal is a reply, never an exception, and never ends the listener. Each carries its
// enhanced status code (RFC 3463; EHLO announces ENHANCEDSTATUSCODES, RFC 2034):
//   550 5.7.1  a recipient whose domain no app claims: relaying denied (never a relay); never the
//              domainless postmaster (RFC 5321 4.5.1: MUST be accepted): it goes to the app
//              mail.postmaster names, or is kept as a dead letter (mail-routes.ts)
//   550 5.1.2  a recipient whose app (it owns the domain) takes no mail: the destination system
//              cannot accept mail
//   451 4.3.2  the app that owns the domain does not serve now (the sender tries again later); at
//              DATA under SMTP, the whole message when one accepted recipient's app went away since
//              (LMTP answers that recipient alone)
//   452 4.5.3  past max_recipients: RFC 5321 4.5.3.1.10 asks for 452, and says a client treats the
//              552 of older servers as temporary too, so the rest are sent in another transaction.
//              A recipient repeated in the transaction is not counted again (smtp-server keeps
//              one entry for it, so it gets the message once). Also past what one app's
//              X-Apppkg-Rcpt-To carries (mail-post.ts MAX_RCPT_TO_HEADER): its POST would be
//              refused (431) at every attempt
//   552 5.3.4  past max_size, announced (MAIL FROM SIZE=: smtp-server's own reply, counted through
//              mail-smtp-server.ts) or found while the message streams
//   552 5.2.3  past the max_body of a recipient's app, under max_size (a per-mailbox limit): at
//              RCPT for that recipient alone when MAIL FROM announced the size, else at DATA (for
//              its recipients alone under LMTP; under SMTP, which has one reply, the whole message)
//   555 5.5.4  a MAIL FROM or RCPT TO parameter of an extension EHLO does not announce: DSN's
//              NOTIFY, ORCPT, RET, ENVID above all (RFC 5321 4.1.1.11). Not DSN itself: a DSN is
//              a report mailed back to the sender, and the listener sends no mail; an MTA in front
//              does that. After HELO, any parameter: HELO enables no extension (RFC 5321 2.2: only
//              EHLO's reply announces any)
//   553 5.6.7  an address sent with UTF-8 in a transaction whose MAIL FROM did not say SMTPUTF8
//              (RFC 6531 3.4, with Postfix's code)
//   452 4.3.1  the spool could not store the message for want of room (ENOSPC, EDQUOT), or has
//              less room than MAIL FROM's SIZE= announces (RFC 1870 6.1)
//   451 4.3.0  the spool could not store the message otherwise
//   421        a client silent past the idle timeout, or sending 10 commands that are not SMTP
// VRFY gets what RCPT TO would (252 2.0.0 for an address it takes, as Postfix answers), EXPN,
// AUTH, STARTTLS, XCLIENT and XFORWARD 502 5.5.1 (mail-smtp-server.ts).
// An address or a name from the client is cut in a reply to fit its 512 octets (mail-reply.ts).
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { MailListenerConfig } from '../environment/host-file.js';
import { formatAddr, parseAddr } from '../net/address.js';
import { listenOn, parseOwner } from '../net/listen.js';
import { mailReply, quoted } from './mail-reply.js';
import { routeRecipient, type MailRoute, type RecipientRoute } from './mail-routes.js';
import { MAX_RCPT_TO_HEADER, rcptToHeader } from './mail-post.js';
import { MailSmtpServer, type MailAddress } from './mail-smtp-server.js';
import type { MailSpool, SpooledDelivery } from './mail-spool.js';
import { receivedField } from './mail-trace.js';

/** RFC 5321 4.5.3.2.7: a server should wait at least 5 minutes for the next command. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60 * 1000;

/** Connections at once; past it, 421 to the newcomer. */
const MAX_CLIENTS = 200;

export interface MailListenerOptions {
  config: MailListenerConfig;
  spool: MailSpool;
  routes: () => MailRoute[];
  /** A message is on disk: its deliveries are to be tried. */
  onAccepted: (deliveries: SpooledDelivery[]) => void;
  /** Each SMTP-level refusal (for the counters). */
  onRefused?: (code: number) => void;
  say: (line: string) => void;
  idleTimeoutMs?: number;
}

export interface MailListener {
  /** As a user writes it: 127.0.0.1:2525 (port 0 resolved) or unix:/path. */
  address: string;
  /** Stops accepting; a transaction under way may finish within `graceMs`, then gets 421. */
  close(graceMs: number): Promise<void>;
}

/**
 * The parameters of the extensions EHLO announces: SIZE, 8BITMIME (BODY=) and SMTPUTF8, all on
 * MAIL FROM; none on RCPT TO. smtp-server takes any other and drops it, DSN's too (hideDSN).
 */
const MAIL_FROM_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8']);
const RCPT_TO_PARAMETERS = new Set<string>();
const DSN_PARAMETERS = new Set(['NOTIFY', 'ORCPT', 'RET', 'ENVID']);

/**
 * The 555 text for the first parameter of `address` not in `announced`, or null. After HELO
 * every parameter is one: RFC 5321 2.2 gives extensions to a session begun with EHLO alone.
 */
function unannouncedParameter(address: SMTPServerAddress, session: SMTPServerSession, announced: Set<string>): string | null {
  const afterHelo = session.openingCommand === 'HELO';
  const name = Object.keys(address.args || {}).find((key) => afterHelo || !announced.has(key));
  if (name === undefined) return null;
  if (afterHelo) return `Parameter ${quoted(name)} not supported after HELO, which enables no extension; send EHLO first, or send without it`;
  const why = DSN_PARAMETERS.has(name) ? 'this server offers no DSN (EHLO does not announce it)' : 'EHLO announces no extension that takes it';
  return `Parameter ${quoted(name)} not supported: ${why}; send without it`;
}

/**
 * The 553 text for an address sent with UTF-8 (RFC 6531 3.4) in a transaction whose MAIL FROM
 * (`mailFrom`) did not say SMTPUTF8, or null. The address is not quoted: a client that did not
 * say SMTPUTF8 is not sent UTF-8 either.
 */
function undeclaredUtf8(address: MailAddress, mailFrom: SMTPServerAddress): string | null {
  if (!address.sentInUtf8 || (mailFrom.args !== false && mailFrom.args.SMTPUTF8 === true)) return null;
  return 'Must declare SMTPUTF8 to send a UTF-8 address: add SMTPUTF8 to MAIL FROM (RFC 6531), or write the address in ASCII';
}

export async function startMailListener(opts: MailListenerOptions): Promise<MailListener> {
  const { config, spool, say } = opts;
  const me = hostname();
  const refuse = (code: number, enhancedCode: string, message: string) => {
    opts.onRefused?.(code);
    return mailReply(code, enhancedCode, message);
  };
  // The RCPT commands accepted in each transaction, in order, and their addresses as smtp-server
  // keys them (lowercase): a repeated one replaces its entry in envelope.rcptTo, so it must not
  // count again toward max_recipients, yet LMTP (RFC 2033 4.2) owes it its own reply after DATA.
  // Each key maps to the app it was accepted for (null: kept for the postmaster), which a refusal
  // at DATA names when that app has gone away since and no route names it any more.
  const accepted = new WeakMap<SMTPServerSession['envelope'], { apps: Map<string, string | null>; commands: SMTPServerAddress[] }>();
  const server = new MailSmtpServer({
    lmtp: config.lmtp,
    name: me,
    banner: 'apppkg-gateway',
    size: config.maxSize,
    rejectOversized: true,
    // No AUTH (it only receives for its own apps) and no STARTTLS (no certificate: it sits on
    // loopback or behind an MTA that does TLS, as Postfix's lmtp: transport does); both are
    // answered as Postfix answers them when not enabled (mail-smtp-server.ts).
    authOptional: true,
    disableReverseLookup: true,
    hideDSN: true,
    hideENHANCEDSTATUSCODES: false,
    logger: false,
    maxClients: MAX_CLIENTS,
    socketTimeout: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    onMailFrom(address, session, callback) {
      const unsupported = unannouncedParameter(address, session, MAIL_FROM_PARAMETERS);
      if (unsupported !== null) return callback(refuse(555, '5.5.4', unsupported));
      const utf8 = undeclaredUtf8(address, address);
      if (utf8 !== null) return callback(refuse(553, '5.6.7', utf8));
      // RFC 1870 6.1: a size announced past the room the spool has now is 452 before the
      // message is sent, not after the sender has sent it all (Postfix answers so too).
      const announced = address.args === false ? NaN : Number(address.args.SIZE);
      if (!(announced > 0)) return callback();
      spool.room().then((room) => {
        if (announced < room) return callback();
        say(`mail: a message of ${announced} bytes (MAIL FROM's SIZE=) refused with 452: the file system of ${spool.dir} has ${room} bytes free: free space on it (\`df -h ${spool.dir}\`)`);
        callback(refuse(452, '4.3.1', 'Insufficient system storage; try again later'));
      });
    },
    onRcptTo(address, session, callback) {
      const unsupported = unannouncedParameter(address, session, RCPT_TO_PARAMETERS);
      if (unsupported !== null) return callback(refuse(555, '5.5.4', unsupported));
      // smtp-server asks for MAIL FROM before it calls this hook.
      const utf8 = session.envelope.mailFrom === false ? null : undeclaredUtf8(address, session.envelope.mailFrom);
      if (utf8 !== null) return callback(refuse(553, '5.6.7', utf8));
      const key = address.address.toLowerCase();
      const acceptedHere = accepted.get(session.envelope) ?? { apps: new Map<string, string | null>(), commands: [] };
      accepted.set(session.envelope, acceptedHere);
      if (session.envelope.rcptTo.length >= config.maxRecipients && !acceptedHere.apps.has(key)) {
        return callback(refuse(452, '4.5.3', `Too many recipients (at most ${config.maxRecipients} per message); send the rest in another transaction`));
      }
      const to = `<${quoted(address.address)}>`;
      const route = routeRecipient(address.address, opts.routes(), config.postmaster);
      // The size announced at MAIL FROM (RFC 1870; Postfix always sends it) past this
      // recipient's app's max_body: refused here, for this recipient alone. Found only at DATA,
      // it could refuse the message as a whole only, to the recipients whose apps can take it too.
      const fromArgs = session.envelope.mailFrom === false ? false : session.envelope.mailFrom.args;
      const announced = fromArgs === false ? NaN : Number(fromArgs.SIZE);
      if (route.kind === 'app' && announced > route.maxBody) {
        return callback(refuse(552, '5.2.3', `${to}: ${tooBigForApp(route.app, route.maxBody)}`));
      }
      const refusal = routeRefusal(route, to, refuse);
      if (refusal !== null) return callback(refusal);
      if (route.kind === 'app' && !acceptedHere.apps.has(key) && rcptToHeader([...recipientsOf(acceptedHere, route.app), address.address]).length > MAX_RCPT_TO_HEADER) {
        return callback(refuse(452, '4.5.3', `Too many recipients for ${quoted(route.app)} in one message (their addresses fill the ${MAX_RCPT_TO_HEADER} bytes of X-Apppkg-Rcpt-To); send the rest in another transaction`));
      }
      acceptedHere.apps.set(key, route.kind === 'app' ? route.app : null);
      acceptedHere.commands.push(address);
      callback();
    },
    onData(stream, session, callback) {
      const recipients = session.envelope.rcptTo;
      // smtp-server replies once per envelope.rcptTo entry under LMTP, whatever the reply (ours,
      // or its own 552 past max_size): one entry per accepted RCPT, repeats included.
      if (config.lmtp) session.envelope.rcptTo = accepted.get(session.envelope)?.commands ?? recipients;
      receive(stream, session, recipients).then(
        (reply) => callback(reply instanceof Error ? reply : null, reply instanceof Error ? undefined : reply),
        (err: NodeJS.ErrnoException) => {
          // A full disk is RFC 5321's 452 (insufficient system storage) and RFC 3463's 4.3.1, as
          // Postfix answers it: the sender's log tells the host's lack of room from a fault.
          if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
            say(`mail: could not spool a message: ${err.message}; the file system of ${spool.dir} is full (or its quota used up): free space on it (\`df -h ${spool.dir}\`); senders are told 452 and send it again`);
            return callback(refuse(452, '4.3.1', 'Insufficient system storage; try again later'));
          }
          // A client that left mid-message is nobody's problem; a disk that fails is the host's.
          if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE' && err.code !== 'ECONNECTION') say(`mail: could not spool a message: ${err.message}`);
          callback(refuse(451, '4.3.0', 'Could not store the message; try again later'));
        },
      );
    },
  }, {
    // Only counted: smtp-server has replied already.
    onOwnRefusal: (code) => opts.onRefused?.(code),
    // A question, not a refusal of mail: not counted.
    verify: (address) => routeRefusal(routeRecipient(address, opts.routes(), config.postmaster), `<${quoted(address)}>`, mailReply),
  });
  // A client's socket error (a reset, a garbage TLS hello) is the client's business: logged at
  // most, never thrown; the listener goes on.
  server.on('error', () => {});

  /**
   * The message to disk, or a refusal. The recipients (one per address) are routed again: the
   * apps may have changed since RCPT.
   */
  async function receive(stream: Readable, session: SMTPServerSession, recipients: SMTPServerAddress[]): Promise<string | Array<string | Error> | Error> {
    const byApp = new Map<string, string[]>();
    const maxBody = new Map<string, number>();
    /** Lowercase address -> its app. */
    const appOf = new Map<string, string>();
    /** Recipients whose app does not serve now, and that app. */
    const lost: Array<{ address: string; app: string }> = [];
    const acceptedFor = accepted.get(session.envelope)?.apps ?? new Map<string, string | null>();
    // Postmaster mail no app takes (mail-routes.ts): spooled, then a dead letter at once.
    const keptTo: string[] = [];
    let keptReason = '';
    // The message must fit every recipient's app (its max_body), not only mail.max_size.
    let limit = config.maxSize;
    let limitedBy: string | null = null;
    for (const rcpt of recipients) {
      const route = routeRecipient(rcpt.address, opts.routes(), config.postmaster);
      if (route.kind === 'kept') {
        keptTo.push(rcpt.address);
        keptReason = route.reason;
        continue;
      }
      if (route.kind !== 'app') {
        // The app its route names now, or, its domain claimed by none (the app removed since),
        // the one RCPT accepted it for: a postmaster's route, the only one accepted for no app,
        // never ends at an unknown domain.
        lost.push({ address: rcpt.address, app: route.kind === 'unknown-domain' ? acceptedFor.get(rcpt.address.toLowerCase())! : route.app });
        continue;
      }
      byApp.set(route.app, [...(byApp.get(route.app) ?? []), rcpt.address]);
      maxBody.set(route.app, route.maxBody);
      appOf.set(rcpt.address.toLowerCase(), route.app);
      if (route.maxBody < limit) {
        limit = route.maxBody;
        limitedBy = route.app;
      }
    }
    const kept = keptTo.length === 0 ? null : { to: keptTo, reason: keptReason };
    if (byApp.size === 0 && kept === null) {
      stream.resume();
      return refuse(451, '4.3.2', 'No recipient can take mail now; try again later');
    }
    // SMTP has one reply for the whole message: a 250 would tell the sender that a recipient
    // whose app went away since its RCPT has it too, and that copy would be lost without a word.
    // The message is refused for now instead: tried again, that RCPT gets what it deserves then.
    if (!config.lmtp && lost.length > 0) {
      stream.resume();
      return notServing(`<${quoted(lost[0].address)}>`, lost[0].app, refuse);
    }
    // LMTP answers each recipient after the message: one whose app cannot take it (its max_body,
    // found only now without SIZE=) is refused alone, so the message is kept if any other can.
    const keepUpTo = !config.lmtp ? limit : kept !== null ? config.maxSize : Math.min(config.maxSize, Math.max(...maxBody.values()));
    const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
    const result = await spool.accept(stream, { from, recipients: byApp, kept, header: (id) => receivedField(session, me, id, recipients.length === 1 ? recipients[0].address : null), maxBody, whole: !config.lmtp }, keepUpTo);
    const lostApps = new Map(lost.map(({ address, app }) => [address.toLowerCase(), app]));
    /** LMTP's reply to each accepted RCPT: `ok`, or its own refusal. */
    const eachRecipient = (ok: string, tooBigFor: string[]) => session.envelope.rcptTo.map((r) => {
      const to = `<${quoted(r.address)}>`;
      const app = appOf.get(r.address.toLowerCase());
      const lostApp = lostApps.get(r.address.toLowerCase());
      if (lostApp !== undefined) return notServing(to, lostApp, mailReply);
      if (app !== undefined && tooBigFor.includes(app)) return refuse(552, '5.2.3', `${to}: ${tooBigForApp(app, maxBody.get(app)!)}`);
      return ok;
    });
    if (!result.ok) {
      // Under max_size, under LMTP: past the max_body of every recipient's app.
      if (config.lmtp && result.bytes <= config.maxSize) return eachRecipient('', [...byApp.keys()]);
      // smtp-server answers 552 itself (rejectOversized), once per recipient under LMTP.
      return limitedBy === null
        ? refuse(552, '5.3.4', `Message too big (at most ${config.maxSize} bytes)`)
        : refuse(552, '5.2.3', tooBigForApp(limitedBy, limit));
    }
    opts.onAccepted(result.message.deliveries);
    const ok = `Queued as ${result.message.messageId}`;
    if (!config.lmtp || (lost.length === 0 && result.tooBigFor.length === 0)) return ok;
    // Those whose app went away meanwhile are asked again later; those whose app cannot take it, never.
    return eachRecipient(ok, result.tooBigFor);
  }

  const addr = parseAddr(config.listen, 'mail.listen');
  await listenOn(server.server, addr, config.socketOwner === null ? {} : parseOwner(config.socketOwner), 'mail.listen', 'mail.socket_owner');
  const bound = server.server.address();
  const address = addr.kind === 'tcp' && bound !== null && typeof bound === 'object' ? formatAddr({ ...addr, port: bound.port }) : formatAddr(addr);
  return {
    address,
    close: (graceMs) => new Promise<void>((resolve) => {
      (server.options as { closeTimeout?: number }).closeTimeout = Math.max(1, graceMs);
      server.close(() => resolve());
    }),
  };
}

/** The addresses accepted so far in a transaction for `app`, once each (as its delivery names them). */
function recipientsOf(acceptedHere: { apps: Map<string, string | null>; commands: SMTPServerAddress[] }, app: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const { address } of acceptedHere.commands) {
    const key = address.toLowerCase();
    if (seen.has(key) || acceptedHere.apps.get(key) !== app) continue;
    seen.add(key);
    out.push(address);
  }
  return out;
}

/** The 552 5.2.3's text for a message past `app`'s max_body (at RCPT, or at DATA). */
function tooBigForApp(app: string, maxBody: number): string {
  return `Message too big for ${quoted(app)} (at most ${maxBody} bytes, its max_body)`;
}

/**
 * The 451 4.3.2 for a recipient `to` whose app does not serve now, made by `reply`: at RCPT, and
 * at DATA for one accepted at RCPT whose app went away since (the sender tries again later).
 */
function notServing(to: string, app: string, reply: typeof mailReply): ReturnType<typeof mailReply> {
  return reply(451, '4.3.2', `${to}: its app (${quoted(app)}) is not serving now; try again later`);
}

/** What RCPT TO answers a recipient `to` routed so, made by `reply`; null when it is taken. */
function routeRefusal(route: RecipientRoute, to: string, reply: typeof mailReply): ReturnType<typeof mailReply> | null {
  switch (route.kind) {
    case 'app':
    case 'kept':
      return null;
    case 'not-serving':
      return notServing(to, route.app, reply);
    case 'no-mail':
      return reply(550, '5.1.2', `${to}: its app (${quoted(route.app)}) takes no mail`);
    case 'unknown-domain':
      return reply(550, '5.7.1', `${to}: no app here takes mail for ${quoted(route.domain) || 'that address'}; relaying denied`);
  }
}
