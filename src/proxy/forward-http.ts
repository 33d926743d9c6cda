// One request to a process that speaks HTTP itself (`platform: python, command`, or a
// `processes` entry with a `route:`), through that process's undici Pool: the full original
// path, both bodies streamed with back-pressure, hop-by-hop headers removed and X-Forwarded-*
// set (outgoing-headers.ts). Failures become responses through error-response.ts's one table:
// nothing answered in time → 504; refused, reset or gone before the response head → 502; gone
// after the head, or silent mid-body for the app's `timeout` → the client's connection is cut,
// so a truncated body never looks complete.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { continueWanted } from '../net/expect-continue.js';
import { ignoredUpgradeOf } from '../net/ignored-upgrade.js';
import { targetAsSent } from '../net/request-head.js';
import { answerFailure, proxyFailure, proxyFailureDetail } from './error-response.js';
import { markCut } from './gateway-cut.js';
import { HEAD_BEGUN, type HeadBegunOptions } from './head-begun.js';
import { interimStatus } from './interim-answers.js';
import { CLOSED, CONTINUE_ALONE, CUT_HEAD, closedBeforeAnswer, invalidAnswer, invalidAnswerLine, STALLED_HEAD, statusOutOfRange, switchedPastIgnoredUpgrade, type InvalidAnswer, type InvalidAnswerKind } from './invalid-answer.js';
import { incomingResponseHeaders, outgoingHeaders } from './outgoing-headers.js';
import type { RequestRoute } from './request-route.js';

export interface ForwardHttpOptions {
  /** No response head within this → 504 (the app's `timeout:`). */
  timeoutMs: number;
  /** Named in error bodies: "processes.live of chat". */
  label: string;
  /** Error bodies carry the low-level reason (serve). */
  development?: boolean;
  /** Told when the process sends a response head. */
  answered?: () => void;
  /** A line for the gateway's output: why an answer was cut. */
  say?: (line: string) => void;
  /** A line for the app's log, said once per `kind` of this process: an answer it gave that no client may get. */
  reportOnce?: (kind: InvalidAnswerKind, line: string) => void;
}

/**
 * The process's reason phrase, passed on as nginx does; Node's own for none, or for one past
 * ASCII: undici decodes it as UTF-8 (a latin-1 byte is U+FFFD there, which node:http refuses to
 * write) and node:http writes it as latin-1, so its bytes would not be the process's.
 */
function reasonOf(status: number, text: string | undefined): string {
  return text !== undefined && text !== '' && /^[\t\x20-\x7e]*$/.test(text) ? text : (STATUS_CODES[status] ?? 'unknown');
}

/**
 * Drops an answer's body and its connection. undici's body, destroyed before its end, emits
 * RequestAbortedError: with no listener that error ended the gateway (a status past 599 did).
 */
function discard(body: Readable): void {
  body.once('error', () => {});
  body.destroy();
}

/** A request with a body to stream: a Content-Length above 0, or chunked. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The request body as a stream undici may consume and destroy. Not `req` itself: undici
 * detaches an IncomingMessage's socket when it is done with it (req.socket = null), which the
 * response and the access log still need. A client that leaves mid-body fails the stream.
 */
function bodyOf(req: IncomingMessage): PassThrough {
  const body = new PassThrough();
  req.once('aborted', () => body.destroy(new Error('the client closed the connection mid-body')));
  req.once('error', (err) => body.destroy(err));
  return req.pipe(body);
}

export function forwardHttp(pool: Dispatcher, req: IncomingMessage, res: ServerResponse, route: RequestRoute, opts: ForwardHttpOptions): void {
  const headers = outgoingHeaders(req, route, { upgrade: false });
  // undici cannot wait for a 100 Continue itself: say it here, then stream the body.
  if (headers.expect !== undefined) {
    if (continueWanted(req, res)) res.writeContinue();
    delete headers.expect;
  }
  // A response here carries more than Node's 10 'close' listeners by design, none of them a
  // leak: the front's log and count, the dispatcher's hold and the upstream's, the abort below,
  // and the pipeline's own. Without this, every request said MaxListenersExceededWarning.
  res.setMaxListeners(32);
  const aborter = new AbortController();
  // The client left: stop the process's work on it (undici closes that connection).
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  // The last 1xx the process sent: a 101 that undici then fails on an assert of its own is
  // told apart by it (invalid-answer.ts), not by the assert's words; a 100 then nothing, too.
  let interim: number | null = null;
  // The final answer's head began (its first byte came, after any 1xx): undici's failure before
  // its end, a close or the headers timeout, names no bytes, and the app's log would have said
  // "closed before it answered", or nothing at the 504.
  let headBegun = false;
  const report = (invalid: InvalidAnswer, status?: string): void =>
    opts.reportOnce?.(invalid.kind, invalidAnswerLine(opts.label, req.method ?? 'GET', targetAsSent(req) ?? '/', invalid, status));
  const options: HeadBegunOptions = {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers,
    body: hasBody(req) ? bodyOf(req) : null,
    signal: aborter.signal,
    headersTimeout: opts.timeoutMs,
    // Between two pieces of the body, not over all of it (nginx's proxy_read_timeout): a
    // stream (server-sent events, a long poll) goes on as long as it sends, but a process
    // that keeps its socket open short of its Content-Length held the client until the
    // gateway stopped. A client that reads slowly pauses it (undici does not count then).
    bodyTimeout: opts.timeoutMs,
    // The fields as the process wrote them, their case and order (incomingResponseHeaders).
    responseHeaders: 'raw',
    // A 1xx before the final answer is taken and not passed on, 103 Early Hints included: the
    // final answer follows it on the same connection, a 1xx may not go to an HTTP/1.0 client
    // (RFC 9110 §15.2), and node:http's writeEarlyHints, which could pass a 103's Links on,
    // is left for when an app asks for it.
    onInfo: ({ statusCode }) => {
      interim = interimStatus(statusCode);
      headBegun = false;
    },
    [HEAD_BEGUN]: () => {
      headBegun = true;
    },
  };
  pool
    .request(options)
    .then(
      (answer) => {
        opts.answered?.();
        if (res.destroyed) {
          discard(answer.body);
          return;
        }
        const outOfRange = statusOutOfRange(answer.statusCode);
        if (outOfRange !== null) {
          discard(answer.body);
          report(outOfRange);
          answerFailure(res, 'bad-response', { detail: `${opts.label} ${outOfRange.did}`, development: opts.development });
          return;
        }
        const bodiless = answer.statusCode === 204 || answer.statusCode === 304;
        // RFC 9110 §8.6: no Content-Length in a 204; a 304's states its GET's length and stays.
        const headers = incomingResponseHeaders(answer.headers as unknown as string[], answer.statusCode === 204 ? 'content-length' : undefined);
        // No answer undici 7 passes on was seen to reach this catch (2026-12-07): it reads
        // values as latin-1, which both writeHeads take (bytes 0x80-0xff included); llhttp
        // refuses a control character, an obs-fold and a name no token; a reason phrase
        // writeHead would refuse is not given (reasonOf); a status below 100 fails in undici
        // (invalid-answer.ts), one past 599 above. Kept for
        // an undici that reads otherwise: uncaught, a throw here is an unhandled rejection,
        // which ends the gateway.
        try {
          res.writeHead(answer.statusCode, reasonOf(answer.statusCode, answer.statusText), headers);
        } catch (err) {
          discard(answer.body);
          answerFailure(res, 'bad-response', { detail: `${opts.label} sent an invalid response head`, debug: (err as Error).message, development: opts.development });
          return;
        }
        if (bodiless) {
          // Nothing can follow its head (RFC 9110 §15.3.5, §15.4.5), and undici fails such an
          // answer whose Content-Length is not 0 as too short (it counts a body a 304 never has):
          // piped, that failure cut the client's connection before any byte, logged 499.
          answer.body.dump().catch(() => {});
          res.end();
          return;
        }
        // The process went away mid-body (before pipeline destroys `res`, which would then be
        // logged 499, the client's leaving): the gateway cuts it, logged with what went out.
        answer.body.once('error', (err: NodeJS.ErrnoException) => {
          if (res.destroyed) return;
          markCut(res);
          if (err.code === 'UND_ERR_BODY_TIMEOUT') {
            opts.say?.(`${opts.label} sent nothing more of its ${res.statusCode} response to ${req.method} ${req.url} for ${opts.timeoutMs / 1000} s (the app's timeout, between two pieces of a body): the client's connection is cut`);
          }
        });
        pipeline(answer.body, res, (err) => {
          // Gone mid-body: cut the client's connection (answerFailure does once headers went).
          if (err) answerFailure(res, 'upstream-gone');
        });
      },
      (err: unknown) => {
        if (aborter.signal.aborted) return; // the client left first: nothing to answer
        req.resume(); // a body the process never read must not hold the connection
        // A head begun and then closed or silent, as forward-upgrade.ts tells a handshake's.
        const judged = invalidAnswer(err, interim) ?? (headBegun && closedBeforeAnswer(err) ? CUT_HEAD : null);
        // A 101 to a request whose client asked for an upgrade the gateway did not pass on (h2c).
        const ignored = judged?.kind === 'switched' ? ignoredUpgradeOf(req) : undefined;
        const invalid = ignored === undefined ? judged : switchedPastIgnoredUpgrade(ignored);
        const stalled = invalid === null && headBegun && proxyFailure(err) === 'timeout';
        if (invalid !== null) report(invalid);
        else if (stalled) report(STALLED_HEAD, '504 Gateway Timeout');
        // No answer to judge, but the app's author still needs to hear of it: a close without
        // one (a crash says why in the process's own output), a 100 and then silence.
        else if (closedBeforeAnswer(err)) report(CLOSED);
        else if (interim === 100 && proxyFailure(err) === 'timeout') report(CONTINUE_ALONE, '504 Gateway Timeout');
        answerFailure(res, invalid === null ? proxyFailure(err) : 'bad-response', {
          detail: invalid !== null ? `${opts.label} ${invalid.did}` : stalled ? `${opts.label} ${STALLED_HEAD.did}` : proxyFailureDetail(err, opts.label, interim),
          debug: String((err as Error)?.message ?? err),
          development: opts.development,
        });
      },
    );
}
