// A visitor erased by the shop (DELETE …/visitors/<v>) while its widget is
// open: the widget is closed with 4403, keeps nothing (screen, outbox,
// token) and does not reconnect on its own; a reload starts a new
// anonymous visitor with nothing.  Run by t/051-browser-resilience.t.

import { launch, jwt, ok, is, plan, shot, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const errors = [];
const { browser, close } = await launch();
const admin = jwt({ sub: 'boss', role: 'admin', site }, secret);
const conn = (page, state) => page.waitForFunction((s) => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === s, state);
const bubbles = (page) => page.$$eval(W.list + ' .kf-bubble', (es) => es.map((e) => e.textContent));
const kept = (page) => page.evaluate((s) => Object.keys(localStorage).filter((k) => k.startsWith(`kefu.${s}.`)), site);

plan(9);
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  const v = await ctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?site=${site}`);
  await conn(v, 'online');
  await v.click(W.launcher);
  await v.fill(W.input, 'my address is 1 Tea Street');
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.mine + '[data-status="sent"]');
  const me = await v.evaluate(() => window.KefuWidget.visitor());
  ok((await kept(v)).length > 0, 'before: the widget keeps its token in localStorage');

  const r = await fetch(`${base}/kefu/api/sites/${site}/visitors/${me}`,
                        { method: 'DELETE', headers: { Authorization: 'Bearer ' + admin } });
  is(r.status, 200, 'the shop erases the visitor');
  await conn(v, 'offline');
  await v.waitForSelector(W.banner + ' >> text=deleted');
  is((await bubbles(v)).length, 0, 'nothing of the conversation is left on screen');
  is((await kept(v)).length, 0, 'nothing of the visitor is left in localStorage');
  ok(await v.isDisabled(W.input), 'nothing more can be typed');
  await shot(v, '051-desktop-erased-en');

  await v.reload();
  await conn(v, 'online');
  const me2 = await v.evaluate(() => window.KefuWidget.visitor());
  ok(me2 && me2 !== me, 'a reload starts a new anonymous visitor', `${me} then ${me2}`);
  is((await bubbles(v)).length, 0, 'with nothing');
  // had the old page connected again with its token, hello would have stored it again
  const x = await fetch(`${base}/kefu/api/sites/${site}/visitors/${me}/export`,
                        { headers: { Authorization: 'Bearer ' + admin } });
  is(x.status, 404, 'the erased visitor was not stored again');
  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
