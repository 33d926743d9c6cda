// A process's answer that undici refuses before its head reaches the proxy (SPEC 5.8, R6.29b):
// which kind of mistake it is, the words of the client's 502, and the line the app's log gets
// with its fix, since the app's author reads the app's log, not the 502 nor the access log.
// undici says the kind by its error's code or class where it has one; where it fails on an
// assert of its own instead (a 101 without Upgrade), by the 1xx status it passed on before.

/** One of these is said once per process in the app's log (forward-http.ts `reportOnce`). */
export type InvalidAnswerKind = 'not-http' | 'framing' | 'switched' | 'continue';

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
  const e = err as (Error & { code?: string }) | null;
  // llhttp's own refusal of the head (a status past 3 digits, a bare LF, a NUL, a name with a
  // space): its words, which quote nothing of the answer.
  if (e?.name === 'HTTPParserError') {
    const why = /\(([^()]+)\)$/.exec(e.message)?.[1];
    return {
      kind: 'not-http',
      did: `sent a response that is not HTTP/1.1${why === undefined ? '' : ` (${why})`}`,
      rule: '',
      fix: 'a status line "HTTP/1.1 200 OK" (3 digits), then one "Name: value" line per field, the name a token, every line ending in CR LF, and an empty line',
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

/** The app's log line for `answer` to `method target`, said once per kind of a process. */
export function invalidAnswerLine(label: string, method: string, target: string, answer: InvalidAnswer): string {
  return `${label} answered ${method} ${target}: it ${answer.did}${answer.rule}, so the client got 502 Bad Gateway, as will any such answer of this process (said once); fix: ${answer.fix}`;
}
