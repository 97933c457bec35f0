// The standalone widget page never leaves a token in its address: given
// in the query or in the fragment, the token signs the visitor in and is
// gone from the address bar before anything reports the address (hello's
// page, page messages); a reload is the same visitor.  Run by
// t/059-browser-token.t, which gives the visitors' ids and then reads the
// access log and the page trail in Redis.

import { launch, plan, jwt, ok, is, until, finish, watchErrors } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const subs = [process.env.KEFU_SUB1, process.env.KEFU_SUB2];
const errors = [];
const { browser, close } = await launch();

const online = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online', null, { timeout: 30000 });

// every frame the page sends, parsed
function frames(page) {
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try { sent.push(JSON.parse(String(f.payload))); } catch (e) { /* not JSON */ }
  }));
  return sent;
}

plan(15);
try {
  // ---- the token in the query ----
  const token = jwt({ sub: subs[0], role: 'visitor', site, name: 'Li Lei' }, secret);
  const ctx = await browser.newContext({ locale: 'en-US' });
  const p = await ctx.newPage();
  watchErrors(p, 'query', errors);
  const sent = frames(p);
  await p.goto(`${base}/widget/?site=${site}&lang=en&group=${group}&token=${token}`);
  await online(p);
  is(await p.evaluate(() => window.KefuWidget.visitor()), subs[0],
     'query: the visitor signed in with the token of the address');
  ok(!/token/.test(p.url()), 'query: the address bar no longer has the token', p.url());
  ok(p.url().includes(`site=${site}`) && p.url().includes(`group=${group}`),
     'query: the other options stay in the address', p.url());
  const hello = sent.find((m) => m.type === 'hello');
  ok(hello && hello.token === token, 'query: hello carries the token, as the token');
  ok(hello && hello.page && hello.page.url && !/token/.test(hello.page.url),
     "query: hello's page URL does not", hello && JSON.stringify(hello.page));

  // a navigation inside the page is reported without it too
  await p.evaluate(() => history.pushState(null, '', location.href + '&step=2'));
  await until(() => sent.some((m) => m.type === 'page'), 'the page message');
  const pg = sent.find((m) => m.type === 'page');
  ok(/step=2/.test(pg.url) && !/token/.test(pg.url), 'query: the page message has the new address, no token', pg.url);

  // back: the entry the page was loaded into was rewritten, not kept
  await p.goBack();
  ok(!/token/.test(p.url()) && !/step=2/.test(p.url()), 'back: the first entry has no token either', p.url());

  // a reload: the same visitor (the tab kept the token), still not in the address
  const n = sent.length;
  await p.reload();
  await online(p);
  is(await p.evaluate(() => window.KefuWidget.visitor()), subs[0], 'reload: the same visitor');
  ok(!/token/.test(p.url()), 'reload: the address has no token', p.url());
  const hello2 = sent.slice(n).find((m) => m.type === 'hello');
  ok(hello2 && hello2.token === token && !/token/.test(hello2.page.url),
     "reload: hello has the tab's token, its page URL none", hello2 && JSON.stringify(hello2.page));
  await ctx.close();

  // ---- the token in the fragment (never sent to a server) ----
  const token2 = jwt({ sub: subs[1], role: 'visitor', site }, secret);
  const ctx2 = await browser.newContext({ locale: 'zh-CN' });
  const q = await ctx2.newPage();
  watchErrors(q, 'fragment', errors);
  const sent2 = frames(q);
  await q.goto(`${base}/widget/?site=${site}&lang=zh#token=${token2}`);
  await online(q);
  is(await q.evaluate(() => window.KefuWidget.visitor()), subs[1],
     'fragment: the visitor signed in with the token of the fragment');
  ok(!/token/.test(q.url()), 'fragment: the address bar no longer has it', q.url());
  is(await q.evaluate(() => location.hash), '', 'fragment: an empty fragment is dropped');
  const hello3 = sent2.find((m) => m.type === 'hello');
  ok(hello3 && hello3.token === token2 && !/token/.test(hello3.page.url),
     "fragment: hello has the token, its page URL none", hello3 && JSON.stringify(hello3.page));
  await ctx2.close();

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
