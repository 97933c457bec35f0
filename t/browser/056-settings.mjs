// The console's Settings area, in the browser: an admin edits the site's
// settings and a visitor on another nginx host sees them at once (colour,
// title, texts, business hours with a holiday today); a bad value is
// refused naming the field; idle conversations' closing in minutes (the
// setting idle_close, in seconds); an agent's console has no Settings.
// Run by t/056-browser-settings.t (which starts the second host).

import { launch, plan, jwt, ok, is, shot, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const ws2 = process.env.KEFU_WS2;
const errors = [];
const { browser, close } = await launch();

const K = '#kefu-widget ';
const conn = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online');
const today = (d) => new Date(Date.now() + 8 * 3600e3 + d * 86400e3).toISOString().slice(0, 10);


plan(22);
try {
  // ---- an agent: no Settings ----
  const agentTok = jwt({ sub: 'plain', role: 'agent', site, name: 'Plain', groups: [group] }, secret);
  const gctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const ag = await gctx.newPage();
  watchErrors(ag, 'agent console', errors);
  await ag.goto(`${base}/console/#token=${agentTok}`);
  await ag.waitForSelector('#conn[data-state="online"]');
  is(await ag.$('#settings-open'), null, "an agent's console has no Settings button");
  is(await ag.$('#settings'), null, '... nor the Settings area');
  await gctx.close();

  // ---- a visitor on the other host ----
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?lang=en&group=${group}&site=${site}&ws=${encodeURIComponent(ws2)}`);
  await conn(v);
  await v.click(W.launcher);

  // ---- the admin's console ----
  const adminTok = jwt({ sub: 'boss', role: 'admin', site, name: 'Boss' }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'admin console', errors);
  await a.goto(`${base}/console/#token=${adminTok}`);
  await a.waitForSelector('#conn[data-state="online"]');
  await a.click('#settings-open');
  await a.waitForSelector('#settings:not([hidden]) [data-field="texts.en.offline"]');
  await a.waitForFunction(() => document.querySelector('#settings').dataset.version !== undefined);
  ok(true, 'an admin opens Settings, loaded from the server');
  is(await a.inputValue('[data-field="idle_close"]'), '1440', 'idle conversations close after a day unless set (in minutes)');

  // a bad time zone: refused, naming the field
  await a.uncheck('[data-field="always"]');
  await a.fill('[data-field="hours.timezone"]', 'Mars/Olympus');
  await a.click('#settings-save');
  await a.waitForSelector('#settings-error:not([hidden])');
  is(await a.getAttribute('#settings-error', 'data-field'), 'hours.timezone', 'a bad time zone is refused, naming the field');
  ok(await a.$eval('[data-field="hours.timezone"]', (e) => e.classList.contains('invalid')), 'and the field is marked');
  await shot(a, '056-desktop-settings-error-en');

  // half a minute without a message: below the server's minute, refused
  await a.fill('[data-field="hours.timezone"]', 'Asia/Shanghai');
  await a.fill('[data-field="idle_close"]', '0.5');
  await a.click('#settings-save');
  await a.waitForFunction(() => document.querySelector('#settings-error').dataset.field === 'idle_close');
  ok(await a.$eval('[data-field="idle_close"]', (e) => e.classList.contains('invalid')), 'idle_close of 30 s is refused, its field marked');
  await a.fill('[data-field="idle_close"]', '30');

  // a good document: colour, title, texts, a holiday today (Shanghai time)
  for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) {
    await a.fill(`[data-field="hours.weekly.${d}"]`, '00:00-24:00');
  }
  await a.fill('[data-field="hours.exceptions"]', [-1, 0, 1].map((d) => today(d) + ' closed').join('\n'));
  await a.fill('[data-field="texts.en.offline"]', 'We are closed for the holiday. Leave us a note!');
  await a.fill('[data-field="texts.zh.offline"]', '节日休息，请留言。');
  await a.fill('[data-field="widget.title.en"]', 'Lumen Tea help');
  await a.$eval('[data-field="widget.color"]', (e) => { e.value = '#b91c1c'; e.dispatchEvent(new Event('input')); });
  await a.fill('[data-field="groups"]', `${group} = 售前 / Pre-sales`);
  await a.check('[data-field="widget.hide_outside_hours"]');
  await shot(a, '056-desktop-settings-en');
  await a.click('#settings-save');
  await a.waitForSelector('.toast >> text=Saved');
  ok(true, 'saved');

  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-sub').textContent.includes('Outside our opening hours'));
  ok(true, 'the visitor on the other host is told at once: outside opening hours');
  ok((await v.textContent(K + '.kf-greet')).includes('closed for the holiday'), 'with the new offline text');
  is((await v.textContent(W.title)).trim(), 'Lumen Tea help', 'the new title');
  const accent = await v.$eval('#kefu-widget', (h) => getComputedStyle(h.shadowRoot.querySelector('.kf')).getPropertyValue('--kf-accent').trim());
  is(accent, '#b91c1c', 'the new colour themes the widget');
  const sendBg = await v.$eval('#kefu-widget', (h) => getComputedStyle(h.shadowRoot.querySelector('.kf-send')).backgroundColor);
  is(sendBg, 'rgb(185, 28, 28)', 'the send button in it');
  const iconColor = await v.$eval('#kefu-widget', (h) => getComputedStyle(h.shadowRoot.querySelector('.kf-send')).color);
  is(iconColor, 'rgb(255, 255, 255)', 'with a white icon');
  const launcherColor = await v.$eval('#kefu-widget', (h) => getComputedStyle(h.shadowRoot.querySelector('.kf-launcher')).color);
  is(launcherColor, 'rgb(255, 255, 255)', 'and a white launcher icon');
  await shot(v, '056-desktop-visitor-closed-en');

  // the phone in Chinese, same host as the visitor
  const pctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                          deviceScaleFactor: 2, locale: 'zh-CN' });
  const p = await pctx.newPage();
  watchErrors(p, 'phone', errors);
  await p.goto(`${base}/?group=${group}&site=${site}&ws=${encodeURIComponent(ws2)}`);
  await conn(p);
  await p.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf').classList.contains('kf-launcher-hidden'));
  ok(await p.isHidden(W.launcher), 'outside business hours the launcher is hidden (hide_outside_hours)');
  await p.evaluate(() => window.KefuWidget.open());   // the shop's own "Ask us" button still opens it
  await p.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-sub').textContent.includes('当前不在服务时间'));
  ok((await p.textContent(K + '.kf-greet')).includes('节日休息'), 'Chinese: the holiday text');
  await shot(p, '056-phone-visitor-closed-zh');

  // open again: the admin removes the holiday, the visitor is told
  await a.fill('[data-field="hours.exceptions"]', '');
  await a.click('#settings-save');
  await v.waitForFunction(() => !document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-sub').textContent.includes('Outside our opening hours'));
  ok(true, 'the holiday removed: no longer outside opening hours');

  // the Settings area in Chinese on a phone
  const aph = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                         deviceScaleFactor: 2, locale: 'zh-CN' });
  const ap = await aph.newPage();
  watchErrors(ap, 'admin phone', errors);
  await ap.goto(`${base}/console/?lang=zh#token=${adminTok}`);
  await ap.waitForSelector('#conn[data-state="online"]');
  await ap.tap('#settings-open');
  await ap.waitForSelector('#settings:not([hidden]) [data-field="texts.zh.offline"]');
  await ap.waitForFunction(() => document.querySelector('[data-field="texts.zh.offline"]').value.includes('节日休息'));
  ok(true, 'the Chinese Settings area shows what is stored');
  ok((await ap.textContent('#settings')).includes('会话无新消息多少分钟后自动结束'), 'idle closing has its Chinese label');
  is(await ap.inputValue('[data-field="idle_close"]'), '30', '... and the stored 30 minutes');
  await shot(ap, '056-phone-settings-zh');

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
