// The registry hands the proxy its apps after every judging, look at the apps directory and
// version switch, and each hand-over rebuilds the routes of every app: a start of 300 apps made
// 1,400 of them (13 s of the gateway's one thread, the most of any one thing in its start), as
// most changed nothing. Only a change is handed over now: about one per app as it comes to serve.
// Counted where the proxy takes them (Front.publish), with real apps starting.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { Front } from '../../src/proxy/front.js';
import { startManyApps } from '../helpers/many-apps.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir } from '../helpers/process.js';

const test = suite('publishing to the proxy');
const work = tempDir('apppkg-lib-publish-');
const APPS = 16;
let gateway: Gateway | null = null;

const realPublish = Front.prototype.publish;
let publishes = 0;

test.before(() => {
  Front.prototype.publish = function (this: Front, ...args: Parameters<Front['publish']>) {
    publishes++;
    return realPublish.apply(this, args);
  };
});

test.after(async () => {
  Front.prototype.publish = realPublish;
  await stopGatewayAndWork(gateway, work);
});

test(`a start of ${APPS} apps hands the proxy about one change per app, not every look and judging`, async () => {
  gateway = (await startManyApps(work.path, APPS)).gateway;
  // A few looks and judgings more must not add any.
  await gateway.reload();
  // The first hand-over (every app starting), then one per app as it serves; a few to spare for
  // apps that come to serve in the same judging's turn, or a look that finds one settling.
  assert.ok(publishes >= 1 && publishes <= APPS + 4, `${publishes} hand-overs for ${APPS} apps`);
});

test.run();
