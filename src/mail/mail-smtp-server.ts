// smtp-server as the mail listener needs it, where its hooks (onMailFrom, onRcptTo, onData)
// cannot reach: each connection is ours (MailSmtpConnection), which
//   - takes an address sent without its angle brackets (`RCPT TO:user@example.com`), as Postfix
//     does by default (strict_rfc821_envelopes = no) and RFC 5321 7.9's "be liberal" practice:
//     smtp-server refused it with 501, and clients that send it (scripts, old MUAs, printers)
//     got none of their mail through;
//   - drops a source route whole, an address literal in it too (`<@[IPv6:::1]:me@x>`, RFC 5321
//     4.1.2 and Appendix C: accepted, then ignored): smtp-server's stops at the literal's first
//     colon and left `::1]:me@x` as the address;
//   - takes a domain written with its root's dot (`a@example.com.`, the absolute form some
//     clients send): smtp-server refuses it with 501; it is handed on without the dot;
//   - takes a domain with `_` in a label (`my_app.localhost`, the default mail domain of an app
//     named my_app, as SPEC 5.3 gives every app NAME.localhost): smtp-server refused it with 501
//     as RFC 5321's domain syntax has no `_`, so such an app got no mail at all; Postfix and Exim
//     take it, as Python's smtplib and swaks send it;
//   - reads a quoted-string local part (RFC 5321 4.1.2 `Quoted-string "@" Domain`, e.g.
//     `"x y"@example.com`): smtp-server splits the command at white space and at `@` and so
//     refuses `"x y"@...` and `"a@b"@...` with 501 before any hook sees them;
//   - reports the 552 it gives by itself at `MAIL FROM:<...> SIZE=N` past `size`, which no hook
//     sees either, so that the listener's `refused` counter counts it;
//   - answers VRFY as RCPT TO would route the address (RFC 5321 3.5.3: 252 means "will accept
//     and attempt delivery", which smtp-server said of any address, relayed ones too), with
//     Postfix's `252 2.0.0 ADDRESS` (smtp-server's 2.1.5 says the address was verified), and
//     EXPN, which it does not know (500, and counted toward the 421 for garbage), with the 502
//     5.5.1 of a command recognized and not implemented (RFC 5321 4.2.4): there are no lists;
//   - answers AUTH and STARTTLS, which EHLO does not announce, with the same 502 5.5.1 (RFC 5321
//     4.2.4: known, not implemented; Postfix's for STARTTLS without TLS, where for AUTH it says
//     503 5.5.1 "authentication not enabled"): smtp-server's disabledCommands made them unknown
//     commands (500), counted toward the 421 for garbage, though a client that tries them speaks SMTP;
//   - answers Postfix's XCLIENT and XFORWARD (a trusted proxy's way to name the client it
//     relays), which EHLO does not announce either, with the same 502 5.5.1: smtp-server's 550
//     5.7.0 "Not allowed" says the client may not, where no client may (there is no list of
//     trusted proxies to be on);
//   - knows nothing of sendmail's WIZ, SHELL and KILL, which smtp-server answers with jokes (and
//     `200` to `WIZ anything`): they are unknown commands as any other;
//   - names a client on a unix socket (Postfix's lmtp:unix: transport) `localhost` in the LHLO/EHLO
//     greeting: it has no address, and smtp-server's `[address]` made "Nice to meet you, []";
//   - reads the message with MailSmtpStream, which drops the dot a line begins with when the
//     client did not double it (RFC 5321 4.5.2), where smtp-server drops only the first of `..`;
//   - says of each address whether the client sent it with octets past ASCII (MailAddress), which
//     RFC 6531 allows only in a transaction whose MAIL FROM said SMTPUTF8: smtp-server gives an
//     `xn--` domain in its Unicode form, so the address it hands on cannot tell;
//   - forgets a refused MAIL FROM's SMTPUTF8: smtp-server marks the transaction SMTPUTF8 before
//     its hook may refuse that MAIL FROM, and a next one without it never unmarked it (the
//     message then said `with UTF8SMTP`);
//   - writes each reply with the right enhanced status code and within 512 octets: smtp-server
//     gives a hook's refusal the code of its reply code alone (any 452 is 4.2.2 "mailbox full"),
//     and writes a reply line of any length (mail-reply.ts).
// All override methods of SMTPConnection that its types declare (smtp-server 3.21); the mail
// tests drive each through a real SMTP session, so a smtp-server that changes them fails there.
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { fitReplyLine, hasEnhancedCode } from './mail-reply.js';
import { MailSmtpStream } from './mail-smtp-stream.js';

/**
 * `... FROM:` or `... TO:`, then an address without its angle brackets: a run of anything but
 * white space, `<`, `>` and `"`, or quoted strings (`"x y"@example.com`), up to white space (its
 * parameters) or the end. One with a `<` or `>` in it is no address: smtp-server refuses it.
 */
const BARE_ADDRESS = /^([^:]*:[ \t]*)((?:"(?:[^"\\]|\\.)*"|[^\s<>"])+)(?=\s|$)/u;

/**
 * `... FROM:<` or `... TO:<`, then a source route: `@` and a domain or an address literal
 * (`[192.0.2.1]`, `[IPv6:::1]`, whose colons smtp-server took for the route's end), one or more
 * separated by `,`, then `:`.
 */
const SOURCE_ROUTE = /^([^:]*:\s*<)@(?:[^\s,:@<>"[\]]+|\[[^\s,@<>"[\]\\]*\])(?:,@(?:[^\s,:@<>"[\]]+|\[[^\s,@<>"[\]\\]*\]))*:/;

/**
 * `... FROM:<` or `... TO:<` (its source route dropped already), then a quoted string before `@`.
 * qtextSMTP is %d32-33 / %d35-91 / %d93-126, with UTF-8 past ASCII as RFC 6531 extends it; a
 * quoted pair is `\` and one of %d32-126. No control character: smtp-server refuses those anyway.
 */
const QUOTED_LOCAL_PART = /^([^:]*:\s*<)("(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10ffff}]|\\[\x20-\x7e])*")@/u;

/**
 * `... FROM:<` or `... TO:<`, a local part (a quoted one stood in for already), `@`, and a domain
 * name that ends with one dot: not `..`, nor `@.`, nor after an address literal.
 */
const ROOT_DOT = /^([^:]*:\s*<[^<>\s@]*@[^<>\s@[\]]*[^<>\s@.[\]])\.>/;

/** `... FROM:<` or `... TO:<`, a local part, `@`, then a domain name with `_` in it (no literal). */
const UNDERSCORE_DOMAIN = /^([^:]*:\s*<[^<>\s]*@)([^<>\s@[\]]*_[^<>\s@[\]]*)>/;

/** An octet past ASCII (an invalid UTF-8 sequence reads as U+FFFD, which is one too). */
const PAST_ASCII = /[^\x00-\x7f]/;

/** An address of MAIL FROM or RCPT TO as the hooks get it. */
export interface MailAddress extends SMTPServerAddress {
  /** Whether the command had an octet past ASCII (RFC 6531: only under SMTPUTF8). */
  sentInUtf8?: boolean;
}

export interface MailSmtpServerHooks {
  /** A refusal smtp-server sends by itself (today: 552 at MAIL FROM SIZE=). */
  onOwnRefusal: (code: number) => void;
  /** What RCPT TO would refuse `address` with (a mailReply), or null when it would take it. */
  verify: (address: string) => (Error & { responseCode: number }) | null;
}

/**
 * Not implemented (RFC 5321 4.2.4: 502), though recognized: EXPN (mailing lists are the apps'
 * own), AUTH (it receives only for its own apps), STARTTLS (no certificate; the session
 * stays plaintext), XCLIENT and XFORWARD (no proxy is trusted to rename its clients).
 */
function notImplemented(this: SMTPConnection, _command: Buffer, callback: () => void): void {
  this.send(502, '5.5.1 Error: command not implemented');
  callback();
}

const NOT_IMPLEMENTED = new Set(['EXPN', 'AUTH', 'STARTTLS', 'XCLIENT', 'XFORWARD']);

/** smtp-server's handlers of sendmail's debugging commands, which are no part of SMTP. */
const NOT_SMTP = new Set(['WIZ', 'SHELL', 'KILL']);

export class MailSmtpServer extends SMTPServer {
  constructor(options: Omit<SMTPServerOptions, 'authMethods' | 'hideSTARTTLS'>, readonly hooks: MailSmtpServerHooks) {
    // AUTH and STARTTLS stay out of disabledCommands, which would make them unknown commands;
    // EHLO announces STARTTLS unless hidden, and AUTH unless there is no method, where
    // smtp-server puts back LOGIN and PLAIN for an empty list: the list is emptied after it.
    super({ ...options, hideSTARTTLS: true });
    this.options.authMethods = [];
  }

  /** As SMTPServer.connect, with our connection class. */
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new MailSmtpConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}

class MailSmtpConnection extends SMTPConnection {
  constructor(private readonly mailServer: MailSmtpServer, socket: net.Socket | tls.TLSSocket, options?: SMTPConnectionOptions | null) {
    super(mailServer, socket, options);
  }

  /** As smtp-server parses it (parseAddress), and whether it was sent with UTF-8 (MailAddress). */
  override _parseAddressCommand(rawName: string, rawCommand: Buffer | string): ReturnType<SMTPConnection['_parseAddressCommand']> {
    const sent = rawCommand.toString();
    const parsed = this.parseAddress(rawName, sent);
    if (parsed !== false) (parsed as MailAddress).sentInUtf8 = PAST_ASCII.test(sent);
    return parsed;
  }

  /**
   * An address without its brackets is put in them first (BARE_ADDRESS), then a source route
   * is dropped (SOURCE_ROUTE), and a domain's root dot last (ROOT_DOT). A
   * quoted local part is put aside and a dot-atom of its length stands in for it, so that
   * smtp-server checks all the rest as it does for any address (the domain, the 256-octet path,
   * the parameters); the address handed on is then the quoted string as sent, `@`, the domain.
   */
  private parseAddress(rawName: string, sent: string): ReturnType<SMTPConnection['_parseAddressCommand']> {
    const line = sent.replace(BARE_ADDRESS, '$1<$2>').replace(SOURCE_ROUTE, '$1');
    const quoted = QUOTED_LOCAL_PART.exec(line);
    if (quoted === null) return this.parseDomainWithUnderscores(rawName, line.replace(ROOT_DOT, '$1>'));
    const [, before, local] = quoted;
    const standIn = `${before}${'q'.repeat(local.length)}${line.slice(before.length + local.length)}`.replace(ROOT_DOT, '$1>');
    const parsed = this.parseDomainWithUnderscores(rawName, standIn);
    if (parsed === false) return false;
    parsed.address = `${local}${parsed.address.slice(parsed.address.lastIndexOf('@'))}`;
    return parsed;
  }

  /**
   * smtp-server's parse, with each `_` of the domain stood in for by a letter so that it checks
   * the rest as for any domain; each label that had one is then put back as sent (the others as
   * smtp-server gives them: an `xn--` label in its Unicode form).
   */
  private parseDomainWithUnderscores(rawName: string, line: string): ReturnType<SMTPConnection['_parseAddressCommand']> {
    const found = UNDERSCORE_DOMAIN.exec(line);
    if (found === null) return super._parseAddressCommand(rawName, line);
    const [, before, domain] = found;
    const parsed = super._parseAddressCommand(rawName, `${before}${domain.replace(/_/g, 'u')}${line.slice(before.length + domain.length)}`);
    if (parsed === false) return false;
    const at = parsed.address.lastIndexOf('@');
    const sent = domain.split('.');
    const labels = parsed.address.slice(at + 1).split('.').map((label, i) => (sent[i]?.includes('_') ? sent[i] : label));
    parsed.address = `${parsed.address.slice(0, at + 1)}${labels.join('.')}`;
    return parsed;
  }

  /** As SMTPConnection._createParser, with our reader of the message (mail-smtp-stream.ts). */
  override _createParser(): MailSmtpStream {
    const parser = new MailSmtpStream({ maxCommandLength: this._server.options.maxCommandLength });
    parser.oncommand = (command, callback) => this._onCommand(command, callback);
    parser.on('error', (err: Error) => this.send(421, `Error: ${err.message}`));
    return parser;
  }

  override _getHandler(command: string): ReturnType<SMTPConnection['_getHandler']> {
    if (NOT_SMTP.has(command)) return undefined;
    return NOT_IMPLEMENTED.has(command) ? notImplemented : super._getHandler(command);
  }

  override handler_VRFY(command: Buffer, callback: () => void): void {
    const argument = command.toString().trim().replace(/^\S+\s*/, '');
    if (argument === '') return super.handler_VRFY(command, callback);
    const refusal = this.mailServer.hooks.verify(argument.replace(/^<(.*)>$/, '$1'));
    if (refusal === null) this.send(252, `2.0.0 ${argument}`);
    else this.send(refusal.responseCode, refusal.message);
    callback();
  }

  override _setClientHostname(hostname: string | false | null | undefined): void {
    super._setClientHostname(hostname);
    // A unix socket's peer is on this host, and has no address to show in brackets.
    if (!this.remoteAddress && this.clientHostname === '[]') this.clientHostname = 'localhost';
  }

  override _applyMailParams(parsed: Parameters<SMTPConnection['_applyMailParams']>[0]): void {
    // Set for a MAIL FROM that the hook then refused, it would hold for the next MAIL FROM.
    this.session.envelope.smtpUtf8 = false;
    super._applyMailParams(parsed);
  }

  override _validateMailParams(parsed: Parameters<SMTPConnection['_validateMailParams']>[0]): ReturnType<SMTPConnection['_validateMailParams']> {
    const problem = super._validateMailParams(parsed);
    if (problem !== null && problem.code === 552) this.mailServer.hooks.onOwnRefusal(problem.code);
    return problem;
  }

  /**
   * A refusal of ours (mailReply) begins with its own enhanced code: smtp-server is told to add
   * none. Every line is then cut to fit RFC 5321's 512 octets with its status, code and CRLF.
   */
  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (typeof data === 'string' && hasEnhancedCode(data)) context = false;
    const enhancedCode = this._getEnhancedStatusCode(code, context);
    const prefix = `${code}-${enhancedCode === '' ? '' : `${enhancedCode} `}`;
    const fit = (line: string) => fitReplyLine(prefix + line).slice(prefix.length);
    const fitted = data === null || data === undefined ? data : Array.isArray(data) ? data.map(fit) : fit(data);
    super.send(code, fitted, context);
  }
}
