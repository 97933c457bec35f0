// Waiting for an agent, in Chinese on a phone: the waiting banner (nobody
// online: no place in line, contract v2), the embed tag's language override, page
// reports, the agent's name on assignment, and close with the rating card.
// Run by t/052-browser-queue.t.

import { launch, jwt, ok, is, plan, until, shot, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const errors = [];
const { browser, close } = await launch();

const conn = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online');

// what the widget sends, as the server receives it
function frames(page) {
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try { sent.push(JSON.parse(f.payload)); } catch (e) { /* not ours */ }
  }));
  return sent;
}

plan(23);
try {
  // ---- a visitor on a phone, Chinese browser, nobody online ----
  const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const vctx = await browser.newContext({ ...phone, locale: 'zh-CN' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?group=${group}&site=${site}`);
  await conn(v);
  is(await v.getAttribute(W.launcher, 'aria-label'), '联系客服', 'Chinese from the browser language');
  await v.tap(W.launcher);
  is((await v.textContent(W.title)).trim(), '在线客服', 'the header in Chinese');
  await v.fill(W.input, '你好，请问这款普洱茶饼还有货吗？');
  await v.tap('#kefu-widget .kf-send');
  await v.waitForSelector(W.mine + '[data-status="sent"]');
  const conv1 = await v.evaluate(() => window.KefuWidget.conversation());
  await v.waitForSelector(W.banner, { state: 'visible' });
  // contract v2: nobody of the group is online, so no place in line is promised
  await v.waitForSelector(W.banner + '[data-kind="leave"]');
  is(await v.getAttribute(W.banner, 'data-position'), null, 'nobody online: no place in line promised');
  ok(!(await v.textContent(W.banner)).includes('第 1 位'), 'nor in the Chinese text', await v.textContent(W.banner));
  await shot(v, '052-phone-queued-zh');

  // ---- a second visitor: Chinese browser, the embed says English ----
  const v2ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const v2 = await v2ctx.newPage();
  watchErrors(v2, 'visitor 2', errors);
  const sent = frames(v2);
  await v2.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(v2);
  is(await v2.getAttribute(W.launcher, 'aria-label'), 'Chat with us', 'data-lang on the embed tag overrides the browser');
  await v2.click(W.launcher);
  await v2.fill(W.input, 'Do you ship to Shanghai?');
  await v2.keyboard.press('Enter');
  await v2.waitForSelector(W.banner, { state: 'visible' });
  const conv2 = await v2.evaluate(() => window.KefuWidget.conversation());
  ok(conv2 && conv2 !== conv1, 'a conversation of its own');
  await v2.waitForSelector(W.banner + '[data-kind="leave"]');
  ok(!(await v2.textContent(W.banner)).includes('in line'), 'the second visitor too is asked to leave a message', await v2.textContent(W.banner));
  await shot(v2, '052-desktop-queued-en');

  // page reports: the shop changes page with pushState, the widget says so
  const hello = sent.find((m) => m.type === 'hello');
  ok(hello && hello.page && hello.page.url.includes('/?lang=en'), 'hello carries the page', JSON.stringify(hello && hello.page));
  ok(hello && hello.attrs && hello.attrs.shop === 'Lumen Tea', 'and the attributes the shop page gave the embed');
  await v2.click('.card >> nth=0');
  await v2.waitForFunction(() => document.title.startsWith('Uji Sencha'));
  await until(() => sent.some((m) => m.type === 'page' && m.url.includes('p=sencha')), 'the page report');
  const page = sent.filter((m) => m.type === 'page').pop();
  ok(page && page.url.includes('p=sencha') && page.title.startsWith('Uji Sencha'), 'a page change is reported', JSON.stringify(page));

  // ---- an agent comes online (Chinese console) ----
  const me = 'wang' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: '王芳', groups: [group], capacity: 1 }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');
  is((await a.textContent('.tab[data-tab="mine"] span')).trim(), '我的', 'the console in Chinese');
  await a.waitForSelector(`.conv-item[data-conv="${conv1}"]`);
  ok(true, 'the queue head is assigned to the agent coming online');
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-title').textContent === '王芳');
  ok(true, "the visitor sees the agent's name");
  await v.waitForSelector(W.banner, { state: 'hidden' });
  ok(true, 'and no longer a queue banner');
  await v2.waitForSelector(W.banner + '[data-position="1"]');
  ok(true, 'the second visitor moves up to first');
  await a.click(`.conv-item[data-conv="${conv1}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=普洱');
  await a.fill('#input', '您好，有货的，今天下单明天发货。');
  await a.keyboard.press('Enter');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=明天发货');
  await shot(v, '052-phone-chat-zh');
  await shot(a, '052-console-zh');

  // ---- close: the visitor is asked for a rating ----
  await a.click('#close');
  await a.click('#close');    // a second click confirms
  await v.waitForSelector('#kefu-widget .kf-rate');
  ok(true, 'closed: the visitor gets the rating card');
  await a.waitForSelector('#conv[data-state="closed"]');
  ok(true, 'the console shows it closed');
  ok(!(await a.$('.toast')), 'and no error toast');
  await v.reload();
  await conn(v);
  await v.waitForSelector('#kefu-widget .kf-rate');
  ok(true, 'a refresh before rating still asks for it');
  await v.tap('#kefu-widget .kf-star[data-score="5"]');
  await v.fill('#kefu-widget .kf-rate-comment', '服务很好，谢谢！');
  await shot(v, '052-phone-rating-zh');
  await v.tap('#kefu-widget .kf-rate-send');
  await v.waitForSelector('#kefu-widget .kf-rate-title >> text=感谢您的评价');
  ok(true, 'the rating is sent and thanked for');
  await v.reload();
  await conn(v);
  await v.waitForSelector('#kefu-widget .kf-rate-title >> text=感谢您的评价');
  ok(await v.isHidden('#kefu-widget .kf-stars'), 'after a refresh it is not asked again');
  await v.fill(W.input, '还想再问一下');
  await v.tap('#kefu-widget .kf-send');
  await v.waitForFunction((c) => window.KefuWidget.conversation() !== c, conv1);
  ok(true, 'the next message opens a new conversation');
  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
