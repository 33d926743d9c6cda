// The gateway's Received: field at the head of a spooled message (src/mail/mail-trace.ts): what
// an attempt leaves out of the POST's body and puts in X-Apppkg-Received. Pure function on the
// bytes a spool file begins with; the end-to-end cases (SMTP, LMTP, an older gateway's spool) are
// in mail-delivery, mail-lmtp and mail-restart.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spooledTrace } from '../../src/mail/mail-trace.js';

const test = suite('mail trace in the spool');
const MESSAGE = 'From: ann@example.org\r\nSubject: hi\r\n\r\nHello.\r\n';

test('the gateway\'s field first: its bytes, and its text unfolded on one line, UTF-8 and `%` percent-encoded', () => {
  const field = 'Received: from client.test ([127.0.0.1])\r\n\tby mx (apppkg-gateway) with UTF8SMTP id m1-0a\r\n\tfor <jü%rgen@alpha.localhost>;\r\n\tMon, 07 Dec 2026 10:00:00 +0000\r\n';
  const file = Buffer.from(field + MESSAGE, 'utf8');
  const trace = spooledTrace(file);
  assert.is(trace?.bytes, Buffer.byteLength(field, 'utf8'));
  assert.is(file.subarray(trace!.bytes).toString('utf8'), MESSAGE, 'the rest is the message');
  assert.is(trace?.header, 'from client.test ([127.0.0.1]) by mx (apppkg-gateway) with UTF8SMTP id m1-0a for <j%C3%BC%25rgen@alpha.localhost>; Mon, 07 Dec 2026 10:00:00 +0000');
  assert.is(decodeURIComponent(trace!.header).includes('for <jü%rgen@alpha.localhost>;'), true, 'unquote() gives it back');
});

test('no field of the gateway\'s first: nothing taken out (a file mended by hand without it, a client\'s own Received:)', () => {
  assert.is(spooledTrace(Buffer.from(MESSAGE)), null);
  assert.is(spooledTrace(Buffer.from(`Received: from relay.example\r\n\tby mx.example with ESMTP id x;\r\n\tMon, 07 Dec 2026 10:00:00 +0000\r\n${MESSAGE}`)), null, 'another server\'s field is the message\'s');
  assert.is(spooledTrace(Buffer.from(`X-Note: (apppkg-gateway) with \r\n${MESSAGE}`)), null);
  assert.is(spooledTrace(Buffer.alloc(0)), null);
});

test('a field with no end within the bytes read (a file cut short): nothing taken out, the file goes whole', () => {
  assert.is(spooledTrace(Buffer.from('Received: from client.test ([127.0.0.1])\r\n\tby mx (apppkg-gateway) with ESMTP id m1')), null);
  // Its last fold at the very end: whether a space or tab follows is not known yet.
  assert.is(spooledTrace(Buffer.from('Received: from c\r\n\tby mx (apppkg-gateway) with ESMTP id m1;\r\n')), null);
});

test('only the first field: a second one naming apppkg-gateway (a client\'s, or a forgery) stays in the message', () => {
  const ours = 'Received: from a\r\n\tby mx (apppkg-gateway) with ESMTP id m2;\r\n\tMon, 07 Dec 2026 10:00:00 +0000\r\n';
  const theirs = 'Received: from b\r\n\tby mx (apppkg-gateway) with ESMTP id forged;\r\n\tMon, 07 Dec 2026 09:00:00 +0000\r\n';
  const trace = spooledTrace(Buffer.from(ours + theirs + MESSAGE));
  assert.is(trace?.bytes, ours.length);
  assert.match(trace!.header, / id m2; /);
});

test.run();
