// One delivery attempt (SPEC 5.3): the raw message POSTed to the app's `mail:` path through
// the gateway's own public listener, so that it takes the same path as any request (the app's
// queue, a deploy's hand-over, its access-log line). It is routed by the app's name (the
// front's key header, MailTargetOptions.routeHeaderOf), whatever its Host says, never to another
// app that claims that host in its `hosts:`. Its path is the app's `mail:` under its mount (SPEC
// 5.3), so SCRIPT_NAME is the mount, as at any request under it, and a `platform: command` app
// whose server routes under $APPPKG_MOUNT finds it there (at prefix '' that app answered 404 to
// every delivery). Its Host is one the app answers to (deliveryHost), so that an app that checks
// its Host (Django's ALLOWED_HOSTS) takes it.
import { Agent, request } from 'undici';
import { isShortAnswer, shortBodyDetail } from '../proxy/error-response.js';
import { testKnob } from '../test-knob.js';
import type { SignedMessage } from './mail-signature.js';
import type { SpooledDelivery } from './mail-spool.js';

/** How an attempt ended, as the deliverer acts on it. */
export type PostOutcome =
  | { kind: 'delivered'; status: number }
  /** 406: the app refuses the message for good (413 too: larger than its max_body). */
  | { kind: 'refused'; status: number }
  | { kind: 'failed'; reason: string };

/**
 * How long the app has to answer one delivery before it is retried, at least: an app whose
 * `timeout` is longer has that, and a little more, so that the front's own 504 at its timeout
 * comes first. With 60 s alone, a handler that takes 70 s under `timeout: 120` was cut at every
 * attempt, and its mail never delivered.
 */
const ANSWER_TIMEOUT_MS = 60_000;
/**
 * Lowers ANSWER_TIMEOUT_MS for the test suite alone (test/mail/mail-slow-app), whose handler
 * must outlast it: with a minute's floor that test waited over a minute (test-knob.ts).
 */
const ANSWER_FLOOR_ENV = 'APPPKG_TEST_MAIL_ANSWER_FLOOR_MS';
/** Past the app's `timeout`: the front answers 504 then, and the answer has to get here. */
const PAST_APP_TIMEOUT_MS = 10_000;

/** The most of an answer's body read to tell the gateway's own short answer (sendError's) by. */
const GATEWAY_ANSWER_MAX_BYTES = 4096;

/**
 * The header that routes a request to the app named, whatever Host others claim
 * (proxy/front.ts appRouteHeader).
 */
export type RouteHeaderOf = (app: string) => [name: string, value: string];

/**
 * The Host of a delivery to `app`: the first exact name of its `hosts:` (a wildcard names no
 * one host), which an app that checks its Host lists; else `NAME.localhost`. Routing ignores it.
 */
export function deliveryHost(app: string, hosts: readonly string[]): string {
  const exact = hosts.find((host) => !host.startsWith('*.'));
  if (exact === undefined) return `${app}.localhost`;
  // An IPv6 address is bracketed in a Host (RFC 9110 7.2, RFC 3986 3.2.2).
  return exact.includes(':') ? `[${exact}]` : exact;
}

/** Where the gateway's public listener is: its first URL, `http://host:port` or `unix:/path`. */
export class MailTarget {
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly answerFloorMs: number;

  constructor(
    listenerUrl: string,
    private readonly routeHeaderOf: RouteHeaderOf,
    private readonly hostOf: (app: string) => string,
    private readonly mountOf: (app: string) => string,
  ) {
    this.answerFloorMs = testKnob(ANSWER_FLOOR_ENV, ANSWER_TIMEOUT_MS);
    if (listenerUrl.startsWith('unix:')) {
      this.agent = new Agent({ connect: { socketPath: listenerUrl.slice('unix:'.length) } });
      this.origin = 'http://localhost';
    } else {
      this.agent = new Agent();
      this.origin = listenerUrl.replace(/\/$/, '');
    }
  }

  /**
   * `message`: the delivery's message file, held open and signed (signOpened); it stays open
   * (the caller closes it). `received`: X-Apppkg-Received, the trace of its receipt (none for a
   * file mended by hand without it). `appTimeoutMs`: the app's `timeout`, when known.
   */
  async post(delivery: SpooledDelivery, message: SignedMessage, received: string | null, path: string, signal: AbortSignal, appTimeoutMs = 0): Promise<PostOutcome> {
    const [routeName, routeValue] = this.routeHeaderOf(delivery.app);
    const answerTimeout = Math.max(this.answerFloorMs, appTimeoutMs + PAST_APP_TIMEOUT_MS);
    // The bytes signed, from the descriptor they were read from, and their length, not the
    // record's: the record says what was received, and a message put back by hand with another
    // length (docs/mail.md says putting it back delivers it) failed every attempt on a
    // Content-Length that lied.
    const { handle, signature, start, size } = message;
    const body = size === 0 ? null : handle.createReadStream({ start, end: start + size - 1, autoClose: false });
    try {
      const res = await request(`${this.origin}${mountPath(this.mountOf(delivery.app))}${path}`, {
        method: 'POST',
        dispatcher: this.agent,
        signal,
        headers: {
          host: this.hostOf(delivery.app),
          [routeName]: routeValue,
          'content-type': 'message/rfc822',
          'content-length': String(size),
          'x-apppkg-mail-from': headerSafe(delivery.from),
          'x-apppkg-rcpt-to': rcptToHeader(delivery.to),
          'x-apppkg-signature': signature,
          'x-apppkg-delivery-id': delivery.id,
          ...(received === null ? {} : { 'x-apppkg-received': received }),
        },
        body: body ?? '',
        headersTimeout: answerTimeout,
        bodyTimeout: answerTimeout,
      });
      const short = isShortAnswer(res.headers, GATEWAY_ANSWER_MAX_BYTES);
      const ownDetail = short ? shortBodyDetail(res.statusCode, await res.body.text()) : null;
      if (!short) await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return { kind: 'delivered', status: res.statusCode };
      if (res.statusCode === 406) return { kind: 'refused', status: res.statusCode };
      // Larger than the app's max_body: no retry can deliver it (the listener refuses such a
      // message with 552; this one came before max_body was lowered).
      if (res.statusCode === 413) return { kind: 'refused', status: res.statusCode };
      // The front's own answer (a 504 at the app's timeout, a 503 with its queue full, a 431) is
      // no answer of the app's: said as the app's, it sent its owner to look for the app's 504.
      if (ownDetail !== null) return { kind: 'failed', reason: `the gateway answered ${res.statusCode} for ${delivery.app}${ownDetail === '' ? '' : `: ${ownDetail}`}` };
      return { kind: 'failed', reason: `the app answered ${res.statusCode}` };
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { kind: 'failed', reason: `no answer from the app (${code ?? (err as Error).message})` };
    } finally {
      // Stops its reads when the body was not read to its end: an answer that came first (a
      // 413), a connection refused.
      body?.destroy();
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** A mount as a request target's path: each segment percent-encoded (`/café`, a `?` or `%` in it). */
function mountPath(mount: string): string {
  return mount.split('/').map(encodeURIComponent).join('/');
}

/**
 * The most X-Apppkg-Rcpt-To may hold, in bytes: its recipients past it are refused at RCPT (452,
 * sent in another transaction). Past 16 KiB the head is the front's 431, past ~8 KiB a field is
 * gunicorn's 400 (limit_request_field_size, a `platform: command` app's server), every attempt:
 * a message taken with 250 that no attempt could deliver.
 */
export const MAX_RCPT_TO_HEADER = 8000;

/** X-Apppkg-Rcpt-To for these recipients. */
export function rcptToHeader(to: readonly string[]): string {
  return to.map(headerSafe).join(', ');
}

/**
 * An address as a header value: SMTPUTF8 allows UTF-8 in addresses, HTTP field values are
 * octets best kept ASCII; anything past ASCII is percent-encoded (decode with unquote()).
 */
function headerSafe(address: string): string {
  // `%` too (a legal local-part character: the `%` hack), so that unquote() gives back exactly
  // the address sent, not one with a sequence it happened to contain decoded. `,` too: the
  // recipients are a comma-separated list, and a quoted local part (`"a,b"@example.com`, RFC
  // 5321 4.1.2) may hold one; splitting at every `,` then never cuts an address.
  return address.replace(/[^\x20-\x7e]|[%,]/gu, (c) => encodeURIComponent(c));
}
