// A process's answer that undici refuses before its head reaches the proxy (SPEC 5.8, R6.29b):
// which kind of mistake it is, the words of the client's 502, and the line the app's log gets
// with its fix, since the app's author reads the app's log, not the 502 nor the access log.
// undici says the kind by its error's code or class where it has one; where it fails on an
// assert of its own instead (a 101 without Upgrade), by the 1xx status it passed on before. An
// upgrade's handshake is read by node:http instead (forward-upgrade.ts), whose parser errors
// are told here too, and mistakes only a handshake shows have kinds of their own.

/** One of these is said once per process in the app's log (HttpUpstream `reportOnce`). */
export type InvalidAnswerKind =
  | 'not-http'
  | 'framing'
  | 'switched'
  | 'continue'
  | 'cut-head'
  | 'stalled-head'
  | 'closed'
  | 'websocket-accept'
  | 'websocket-upgrade'
  | 'websocket-no-upgrade';

/**
 * undici's SocketError words this module tells answers by where undici gives no class or code of
 * their own (all are UND_ERR_SOCKET): test/proxy/undici-words.test.ts fails when they change.
 */
export const UNDICI_WORDS = { upgrade: 'bad upgrade', response: 'bad response', closed: 'other side closed' } as const;

export interface InvalidAnswer {
  kind: InvalidAnswerKind;
  /** What the process did, after its label: the 502's words. */
  did: string;
  /** The rule it broke, for the log line ('' when `did` says it all). */
  rule: string;
  /** How to mend the process's server, for the log line. */
  fix: string;
}

/**
 * The mistake `err` (undici's failure of a request before its head) says the process's answer
 * was, or null when the process gave no answer to judge (it refused the connection, went away,
 * was too slow). `interim`: the last 1xx status undici passed to `onInfo` before it failed.
 */
export function invalidAnswer(err: unknown, interim: number | null): InvalidAnswer | null {
  const e = err as (Error & { code?: string; reason?: string }) | null;
  const socketWords = e?.code === 'UND_ERR_SOCKET' ? e.message : undefined;
  // llhttp's own refusal of the head (a status past 3 digits, a bare LF, a NUL, a name with a
  // space): its words, which quote nothing of the answer. undici's error names it by its
  // class; node:http's (an upgrade's handshake) by an HPE_ code, its words in `reason`.
  const parserError = e?.name === 'HTTPParserError' || (typeof e?.code === 'string' && e.code.startsWith('HPE_'));
  // A status of 3 digits below 100 ("099"): llhttp takes it, undici passes it on as a 1xx
  // (onInfo) and then fails on an assert of its own, told by that status as a 101 is.
  const lowStatus = interim !== null && interim < 100 ? `a status below 100: ${String(interim).padStart(3, '0')}` : undefined;
  if (parserError || lowStatus !== undefined) {
    return notHttp(lowStatus ?? (typeof e?.reason === 'string' && e.reason !== '' ? e.reason : /\(([^()]+)\)$/.exec(e?.message ?? '')?.[1]));
  }
  if (e?.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return {
      kind: 'framing',
      did: 'sent a response whose Content-Length does not frame its body',
      rule: ' (two that differ, or one beside Transfer-Encoding: RFC 9112 6.3)',
      fix: 'one Content-Length, the body\'s length, or Transfer-Encoding: chunked alone',
    };
  }
  // A 101 to a request without Upgrade (RFC 9110 §15.2.2: only to one that asked): undici names
  // the one with an Upgrade field 'bad upgrade', and fails the other on an assert of its own,
  // after it has passed its status on (onInfo): that status says it, whatever the assert's text.
  if (interim === 101 || socketWords === UNDICI_WORDS.upgrade) {
    return {
      kind: 'switched',
      did: 'sent 101 Switching Protocols to a request that asked for no upgrade',
      rule: ' (RFC 9110 15.2.2)',
      fix: 'answer 101 only to a request with Upgrade (the gateway passes an upgrade to websocket on as it comes, and serves any other as the request it also is, without its Upgrade), any other with a final status',
    };
  }
  // A 100 and then the close, before any final answer (a 100 before one is taken as any 1xx is:
  // interim-answers.ts). 'bad response': undici's own refusal of a 100, where that connector's
  // hook did not take (an undici whose parser it no longer finds): the same mistake to the client.
  if ((interim === 100 && socketWords === UNDICI_WORDS.closed) || socketWords === UNDICI_WORDS.response) return CONTINUE_ALONE;
  return null;
}

/**
 * SWITCHED, to a request whose client asked to upgrade to `protocols` ("h2c", an app's own),
 * which the gateway served without its Upgrade (RFC 9110 7.8 lets a server ignore one;
 * net/ignored-upgrade.ts): the process saw no Upgrade, yet the client's 502 saying it asked for
 * none was untrue, and the fix sent the author looking for an Upgrade the gateway had dropped.
 */
export function switchedPastIgnoredUpgrade(protocols: string): InvalidAnswer {
  return {
    kind: 'switched',
    did: `sent 101 Switching Protocols to a request the gateway passed on without its Upgrade (${protocols}): it carries an upgrade to websocket alone`,
    rule: ' (RFC 9110 7.8: a server may ignore an Upgrade; 15.2.2: a 101 only to a request that has one)',
    fix: `answer with a final status a request that comes without Upgrade; the gateway switches no connection to ${protocols}, serving the request as the HTTP/1.1 request it also is`,
  };
}

/** A status line llhttp reads but no HTTP/1.1 server may send; `why` quotes the part it got wrong. */
function notHttp(why: string | undefined): InvalidAnswer {
  return {
    kind: 'not-http',
    did: `sent a response that is not HTTP/1.1${why === undefined ? '' : ` (${why})`}`,
    rule: '',
    fix: 'a status line "HTTP/1.1 200 OK" (3 digits, 100 to 599), then one "Name: value" line per field, the name a token, every line ending in CR LF, and an empty line',
  };
}

/**
 * A status outside 100 to 599 (3 digits, so llhttp takes it, and undici and node:http pass one
 * past 599 on as final): RFC 9110 §15 gives those alone, and a client may read another as anything.
 */
export function statusOutOfRange(status: number): InvalidAnswer | null {
  if (status > 599) return notHttp(`a status above 599: ${status}`);
  return status < 100 ? notHttp(`a status below 100: ${String(status).padStart(3, '0')}`) : null;
}

/**
 * A process's 100 Continue with no final answer after it, its connection then closed or silent
 * (said at the app's timeout, a 504): an interim answer promises one (RFC 9110 §15.2).
 */
export const CONTINUE_ALONE: InvalidAnswer = {
  kind: 'continue',
  did: 'sent 100 Continue and then no final answer',
  rule: ' (a 1xx is interim: a final status must follow it, RFC 9110 15.2)',
  fix: 'send a final answer after any 1xx; the request the process gets has no Expect (the gateway answers the client\'s itself), so nothing waits for a 100',
};

/**
 * The process closed its connection (or reset it) without a byte of an answer to the request
 * on it: node:http's 'socket hang up' and undici's 'other side closed' alike. The client's 502
 * says it went away; the line says where to look, since a server that crashed said why in its
 * own output, and one that closes a kept-alive connection it did not say it would close races
 * the next request on it.
 */
export const CLOSED: InvalidAnswer = {
  kind: 'closed',
  did: 'closed its connection before it answered',
  rule: '',
  fix: 'answer every request it reads before it closes the connection (a server that crashed says why in its own output above; one that closes kept-alive connections should say Connection: close in the answer before)',
};

/** Whether `err` (undici's or node:http's, before a response head) is the process's close or reset of the connection. */
export function closedBeforeAnswer(err: unknown): boolean {
  const e = err as (Error & { code?: string }) | null;
  return e?.code === 'ECONNRESET' || (e?.code === 'UND_ERR_SOCKET' && e.message === UNDICI_WORDS.closed);
}

/**
 * An answer whose head began, then nothing more for the app's timeout: a server stuck
 * mid-write. The client gets a 504, as for no answer at all, but only this line says part of a
 * head came (node:http's timeout of a handshake and undici's headers timeout alike name no
 * bytes: forward-upgrade.ts counts them, forward-http.ts is told by head-begun.ts).
 */
export const STALLED_HEAD: InvalidAnswer = {
  kind: 'stalled-head',
  did: 'sent part of its answer\'s head and then nothing more',
  rule: ' (a head ends with an empty line: RFC 9112 2.1)',
  fix: 'write the whole head, status line to empty line, at once; a server blocked mid-answer (a full pipe, a lock) shows it in a stack dump of the process',
};
/**
 * A connection the process closed after some of its answer's head but before its blank line
 * (node:http's 'socket hang up' and undici's 'other side closed' say nothing of the bytes
 * before it: forward-upgrade.ts counts them, forward-http.ts is told by head-begun.ts): a
 * server that died or gave up mid-write, not one that went away before it answered.
 */
export const CUT_HEAD: InvalidAnswer = {
  kind: 'cut-head',
  did: 'closed its connection in the middle of its answer\'s head',
  rule: ' (a head ends with an empty line: RFC 9112 2.1)',
  fix: 'write the whole head, status line to empty line, before the connection closes; a server that crashed mid-answer says why in its own output above',
};

/**
 * A 101 to a websocket handshake whose Sec-WebSocket-Accept is not the one the client's key
 * asks for (RFC 6455 4.1: every client fails such a websocket, a browser with no words); the
 * gateway passes the key on as the client sent it, so the process's digest is the one to check.
 */
export const WRONG_ACCEPT: InvalidAnswer = {
  kind: 'websocket-accept',
  did: 'switched to websocket without the Sec-WebSocket-Accept the handshake\'s key asks for',
  rule: ' (RFC 6455 4.2.2: base64 of the SHA-1 of Sec-WebSocket-Key and 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)',
  fix: 'let a websocket library answer the handshake (websockets, wsproto, a framework\'s), or compute the accept from the Sec-WebSocket-Key the request carries',
};

/**
 * A 101 to a websocket handshake whose Upgrade is not "websocket", or whose Connection does not
 * name upgrade (RFC 6455 4.1: every client fails it): the accept may be right, but the protocol
 * the process switched to is not the one the client asked for (RFC 9110 7.8).
 */
export const WRONG_UPGRADE: InvalidAnswer = {
  kind: 'websocket-upgrade',
  did: 'switched to another protocol than the websocket the handshake asked for',
  rule: ' (a 101 to a websocket handshake carries Upgrade: websocket and Connection: Upgrade: RFC 6455 4.2.2)',
  fix: 'let a websocket library answer the handshake (websockets, wsproto, a framework\'s), or answer it with "Upgrade: websocket" and "Connection: Upgrade"',
};

/**
 * A 101 to a websocket request, with a key or without, that names no protocol: RFC 9110 15.2.2
 * has a server that switches send Upgrade, and without it no client can tell what it now speaks.
 */
export const NO_UPGRADE: InvalidAnswer = {
  kind: 'websocket-no-upgrade',
  did: 'sent 101 Switching Protocols without an Upgrade field naming the protocol it switched to',
  rule: ' (a server that switches names the new protocol in Upgrade: RFC 9110 15.2.2; for a websocket, Upgrade: websocket and Connection: Upgrade, RFC 6455 4.2.2)',
  fix: WRONG_UPGRADE.fix,
};

/** The app's log line for `answer` to `method target`, said once per kind of a process; `status`: what the client got. */
export function invalidAnswerLine(label: string, method: string, target: string, answer: InvalidAnswer, status = '502 Bad Gateway'): string {
  return `${label} answered ${method} ${target}: it ${answer.did}${answer.rule}, so the client got ${status}, as will any such answer of this process (said once); fix: ${answer.fix}`;
}
