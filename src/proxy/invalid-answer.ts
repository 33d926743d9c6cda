// A process's answer that undici refuses before its head reaches the proxy (SPEC 5.8, R6.29b):
// which kind of mistake it is, the words of the client's 502, and the line the app's log gets
// with its fix, since the app's author reads the app's log, not the 502 nor the access log.
// undici says the kind by its error's code or class where it has one; where it fails on an
// assert of its own instead (a 101 without Upgrade), by the 1xx status it passed on before. An
// upgrade's handshake is read by node:http instead (forward-upgrade.ts), whose parser errors
// are told here too, and two mistakes only a handshake shows have their own kinds.

/** One of these is said once per process in the app's log (HttpUpstream `reportOnce`). */
export type InvalidAnswerKind = 'not-http' | 'framing' | 'switched' | 'continue' | 'cut-head' | 'websocket-accept';

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
  // llhttp's own refusal of the head (a status past 3 digits, a bare LF, a NUL, a name with a
  // space): its words, which quote nothing of the answer. undici's error names it by its
  // class; node:http's (an upgrade's handshake) by an HPE_ code, its words in `reason`.
  const parserError = e?.name === 'HTTPParserError' || (typeof e?.code === 'string' && e.code.startsWith('HPE_'));
  // A status of 3 digits below 100 ("099"): llhttp takes it, undici passes it on as a 1xx
  // (onInfo) and then fails on an assert of its own, told by that status as a 101 is.
  const lowStatus = interim !== null && interim < 100 ? `a status below 100: ${String(interim).padStart(3, '0')}` : undefined;
  if (parserError || lowStatus !== undefined) {
    const why = lowStatus ?? (typeof e?.reason === 'string' && e.reason !== '' ? e.reason : /\(([^()]+)\)$/.exec(e?.message ?? '')?.[1]);
    return {
      kind: 'not-http',
      did: `sent a response that is not HTTP/1.1${why === undefined ? '' : ` (${why})`}`,
      rule: '',
      fix: 'a status line "HTTP/1.1 200 OK" (3 digits, 100 to 599), then one "Name: value" line per field, the name a token, every line ending in CR LF, and an empty line',
    };
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
  if (interim === 101 || (e?.code === 'UND_ERR_SOCKET' && e.message === 'bad upgrade')) {
    return {
      kind: 'switched',
      did: 'sent 101 Switching Protocols to a request that asked for no upgrade',
      rule: ' (RFC 9110 15.2.2)',
      fix: 'answer 101 only to a request with Upgrade (the gateway passes those on as they come), any other with a final status',
    };
  }
  // undici refuses every 100 a server sends (client-h1.js onHeadersComplete, before onInfo), one
  // followed by a final answer too; a response with no request running fails the same way, but
  // then no request hears it. The gateway asks a process for none: it drops Expect and answers
  // the client's 100-continue itself.
  if (e?.code === 'UND_ERR_SOCKET' && e.message === 'bad response') {
    return {
      kind: 'continue',
      did: 'sent 100 Continue, which the gateway does not take from a process (it answers Expect itself)',
      rule: '',
      fix: 'send the final answer alone: the request the process gets has no Expect, so nothing waits for a 100',
    };
  }
  return null;
}

/**
 * An upgrade's handshake whose connection the process closed after some of its answer's head
 * but before its blank line (node:http's 'socket hang up' says nothing of the bytes before it,
 * forward-upgrade.ts counts them): a server that died or gave up mid-write, not one that went
 * away before it answered.
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

/** The app's log line for `answer` to `method target`, said once per kind of a process. */
export function invalidAnswerLine(label: string, method: string, target: string, answer: InvalidAnswer): string {
  return `${label} answered ${method} ${target}: it ${answer.did}${answer.rule}, so the client got 502 Bad Gateway, as will any such answer of this process (said once); fix: ${answer.fix}`;
}
