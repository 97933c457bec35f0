// Search and canned replies in the agent console.  Visitors (raw
// WebSocket clients) write on two nginx hosts; the agent searches in
// English and Chinese and opens what it finds (a closed conversation
// read-only); "/" in the composer offers the site's and the agent's own
// canned replies, arrow keys and Enter insert them with {{visitor.name}},
// {{agent.name}} and {{attrs.*}} filled in; the agent adds its own reply
// in the console; an admin edits the site's in Settings.  Run by
// t/058-browser-search.t (which starts the second host).

import { launch, jwt, ok, is, plan, until, shot, rawClient, acceptAs, finish, watchErrors, expectRefused } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const ws2 = process.env.KEFU_WS2;
const errors = [];
const { browser, close } = await launch();
const API = `${base}/kefu/api/sites/${site}`;
const adminTok = jwt({ sub: 'boss', role: 'admin', site, name: 'Boss' }, secret);

async function visitor(page, url, name, texts) {
  const c = await rawClient(page, url);
  await c.send({ type: 'hello', role: 'visitor', site, name, group });
  const w = await c.next('welcome');
  let conv;
  for (const [i, text] of texts.entries()) {
    await c.send({ type: 'msg', cid: name + i, text });
    conv = (await c.next('ack')).conv;
  }
  return { c, conv, id: w.id };
}

// the search box: type, Enter, and the results for that query
async function search(a, q) {
  await a.fill('#search-input', q);
  await a.press('#search-input', 'Enter');
  await a.waitForFunction((q) => document.querySelector('#search-results')?.dataset.q === q
    && !document.querySelector('#search-results .search-msg:not(.error)')?.textContent.match(/Searching|正在搜索/), q);
}

plan(33);
try {
  // the site's canned replies, as an admin would set them over the API
  const site1 = [
    { key: 'hello', title: { en: 'Greeting', zh: '问候' },
      text: { en: 'Hi {{visitor.name|there}}, this is {{agent.name}}.', zh: '您好，{{visitor.name|朋友}}！我是{{agent.name}}。' } },
    { key: 'order', text: { en: 'Your order {{attrs.order_id|(no number yet)}} is on its way.', zh: '您的订单 {{attrs.order_id|（暂无单号）}} 已发货。' } },
  ];
  let r = await fetch(`${API}/settings`, { method: 'PUT', body: JSON.stringify({ canned: site1 }),
    headers: { Authorization: 'Bearer ' + adminTok, 'Content-Type': 'application/json' } });
  is(r.status, 200, "the site's canned replies are set over the API");

  const me = 'ann' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Ann', groups: [group] }, secret);
  const vp = await (await browser.newContext()).newPage();
  await vp.goto(`${base}/console/console.css`);   // any page of the site: raw clients run in it

  // a conversation closed before the console signs in: not in its list
  const C = await visitor(vp, wsUrl, 'Old Customer', ['I would like a refund for the blue jacket']);
  await acceptAs(vp, wsUrl, site, token, C.conv);
  const closer = await rawClient(vp, wsUrl);
  await closer.send({ type: 'hello', role: 'agent', site, token });
  await closer.next('welcome');
  await closer.send({ type: 'close', conv: C.conv });
  await closer.next('conv');
  await closer.close();

  // ---- the console ----
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');
  ok(await a.isVisible('#search-input'), 'the console has a search box');

  // one visitor on each host, both the agent's
  const A = await visitor(vp, wsUrl, 'Li Lei', ['My order 1001 has not arrived yet']);
  const B = await visitor(vp, ws2, '王小明', ['我想申请退款，订单号 2002']);
  for (const x of [A, B]) await acceptAs(vp, wsUrl, site, token, x.conv);
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"]`);

  // ---- English ----
  await until(async () => { await search(a, 'ORDER arrived'); return !!(await a.$(`.search-hit[data-conv="${A.conv}"]`)); },
              'the English hit');
  is(await a.textContent(`.search-hit[data-conv="${A.conv}"] .sh-text`), 'My order 1001 has not arrived yet', 'the message that matched');
  is(await a.$$eval(`.search-hit[data-conv="${A.conv}"] mark`, (ms) => ms.map((m) => m.textContent).join(',')), 'order,arrived',
     'the words found are marked, whatever their case');
  ok(!(await a.isVisible('#convs')), 'results take the place of the list');
  await shot(a, '058-search-english');
  await a.click(`.search-hit[data-conv="${A.conv}"]`);
  await a.waitForSelector(`#conv[data-conv="${A.conv}"]`);
  await a.waitForSelector('#entries .bubble >> text=My order 1001');
  ok(!(await a.isDisabled('#input')), 'a hit opens its conversation, open for replies');

  // ---- Chinese, written on the other host ----
  await until(async () => { await search(a, '退款'); return !!(await a.$(`.search-hit[data-conv="${B.conv}"]`)); },
              'the Chinese hit');
  is(await a.textContent(`.search-hit[data-conv="${B.conv}"] .sh-name`), '王小明', 'found what a visitor wrote on the second host');
  is(await a.$$eval(`.search-hit[data-conv="${B.conv}"] mark`, (ms) => ms.map((m) => m.textContent).join(',')), '退款', 'the Chinese word is marked');
  ok(!(await a.$(`.search-hit[data-conv="${A.conv}"]`)), 'and nothing else');
  await a.click('#lang-switch');
  await search(a, '退款');
  is(await a.getAttribute('#search-input', 'placeholder'), '搜索消息和访客…', 'the search box in Chinese');
  await shot(a, '058-search-chinese');
  await a.click('#lang-switch');
  await search(a, '王小明');
  ok(await a.isVisible(`.search-visitor[data-visitor="${B.id}"]`), 'a visitor found by its Chinese name');

  // ---- a closed conversation opens read-only ----
  await search(a, 'blue jacket');
  await a.waitForSelector(`.search-hit[data-conv="${C.conv}"]`);
  await a.click(`.search-hit[data-conv="${C.conv}"]`);
  await a.waitForSelector('#entries .bubble >> text=blue jacket');
  ok(await a.isDisabled('#input'), 'a closed conversation opens read-only');
  await search(a, 'nothingmatchesthis');
  is(await a.textContent('#search-results .search-msg'), 'Nothing found for “nothingmatchesthis”', 'nothing found says so');
  await a.click('#search-clear');
  ok(await a.isVisible('#convs'), 'clearing the search brings the list back');

  // ---- canned replies ----
  await a.click(`.conv-item[data-conv="${A.conv}"]`);
  await a.waitForSelector(`#conv[data-conv="${A.conv}"]`);
  await a.focus('#input');
  await a.keyboard.type('/');
  await a.waitForSelector('#canned-pop:not([hidden]) .canned-item');
  is(await a.$$eval('#canned-pop .canned-item', (es) => es.map((e) => e.dataset.key).join(',')), 'hello,order',
     '"/" lists the site\'s canned replies');
  // the agent's own, added in the console
  await a.click('#canned-pop .canned-manage');
  await a.waitForSelector('#canned-dialog[open] #canned-form');
  await a.fill('#canned-form [name=key]', 'thx');
  await a.fill('#canned-form [name=en]', 'Thanks {{visitor.name}}, anything else?');
  await a.fill('#canned-form [name=zh]', '谢谢{{visitor.name|您}}，还有别的问题吗？');
  await a.click('#canned-save');
  await a.waitForSelector('#canned-dialog .canned-row[data-key="thx"]');
  await a.fill('#canned-form [name=key]', 'bad key!');
  await a.fill('#canned-form [name=en]', 'x');
  await a.click('#canned-save');
  await a.waitForSelector('#canned-error:not([hidden])');
  ok(/^Not saved: key: /.test(await a.textContent('#canned-error')), 'a bad shortcut is refused, naming the field');
  ok(await a.$eval('#canned-form [name=key]', (e) => e.classList.contains('invalid')), 'and marking it');
  await shot(a, '058-canned-manage');
  await a.click('#canned-dialog .btn:not(.primary)');
  r = await fetch(`${API}/canned`, { headers: { Authorization: 'Bearer ' + token } });
  is((await r.json()).personal.map((x) => x.key).join(','), 'thx', "the agent's own reply is stored, per agent");

  await a.fill('#input', '');
  await a.focus('#input');
  await a.keyboard.type('/h');
  await a.waitForSelector('#canned-pop:not([hidden]) .canned-item[data-key="hello"]');
  is(await a.$$eval('#canned-pop .canned-item', (es) => es.length), 1, '"/h" narrows it to one');
  await shot(a, '058-canned-suggest');
  await a.keyboard.press('Enter');
  is(await a.inputValue('#input'), 'Hi Li Lei, this is Ann.', "Enter inserts it, the visitor's and the agent's names filled in");
  ok(await a.isHidden('#canned-pop'), 'and closes the suggestions');
  await a.keyboard.press('Enter');
  let got;
  do got = await A.c.next('msg'); while (got.from.role !== 'agent');
  is(got.text, 'Hi Li Lei, this is Ann.', 'the visitor gets the filled-in reply');

  await a.keyboard.type('/');
  await a.waitForSelector('#canned-pop:not([hidden]) .canned-item[data-key="thx"]');
  is(await a.$$eval('#canned-pop .canned-item', (es) => es.map((e) => e.dataset.key).join(',')), 'hello,order,thx',
     "the site's and the agent's own, by shortcut");
  await a.keyboard.press('ArrowDown');
  is(await a.getAttribute('#canned-pop .canned-item[aria-selected="true"]', 'data-key'), 'order', 'the arrow key moves the choice');
  await a.keyboard.press('Enter');
  is(await a.inputValue('#input'), 'Your order (no number yet) is on its way.', 'an attribute the visitor did not give: the fallback');
  await a.fill('#input', '');
  await a.keyboard.type('/');
  await a.keyboard.press('ArrowUp');
  await a.keyboard.press('Tab');
  is(await a.inputValue('#input'), 'Thanks Li Lei, anything else?', 'up from the first goes to the last; Tab inserts too');
  await a.fill('#input', '');

  // in Chinese
  await a.click('#lang-switch');
  await a.focus('#input');
  await a.keyboard.type('/hel');
  await a.waitForSelector('#canned-pop:not([hidden]) .canned-item[data-key="hello"]');
  await a.keyboard.press('Enter');
  is(await a.inputValue('#input'), '您好，Li Lei！我是Ann。', 'the Chinese text in a Chinese console');
  await a.fill('#input', '');
  await a.keyboard.type('/zzz');
  await a.waitForSelector('#canned-pop .canned-none');
  is(await a.textContent('#canned-pop .canned-none'), '没有以“/zzz”开头的快捷回复', 'no match says so');
  await a.keyboard.press('Escape');
  ok(await a.isHidden('#canned-pop'), 'Escape closes the suggestions');
  await a.click('#lang-switch');

  // ---- the site's canned replies in Settings (an admin) ----
  const sctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const s = await sctx.newPage();
  watchErrors(s, 'admin console', errors);
  await s.goto(`${base}/console/#token=${adminTok}`);
  await s.waitForSelector('#conn[data-state="online"]');
  await s.click('#settings-open');
  await s.waitForSelector('#settings:not([hidden]) [data-field="canned[1].key"]');
  await s.click('#canned-site-add');
  await s.fill('[data-field="canned[2].key"]', 'hello');
  await s.fill('[data-field="canned[2].text.en"]', 'Bye {{visitor.name|for now}}!');
  await s.click('#settings-save');
  await s.waitForSelector('#settings-error:not([hidden])');
  is(await s.getAttribute('#settings-error', 'data-field'), 'canned[2].key', 'a shortcut used twice is refused, naming the field');
  expectRefused(errors, 400);
  await s.fill('[data-field="canned[2].key"]', 'bye');
  await s.click('#settings-save');
  await s.waitForFunction(() => document.querySelector('#settings').dataset.version === '2');
  await shot(s, '058-canned-settings');
  await a.fill('#input', '');
  await a.focus('#input');
  await until(async () => {
    await a.fill('#input', '');
    await a.keyboard.type('/b');
    return !!(await a.$('#canned-pop .canned-item[data-key="bye"]'));
  }, "the admin's new reply in the agent's console");
  await a.keyboard.press('Enter');
  is(await a.inputValue('#input'), 'Bye Li Lei!', "the admin's new reply reaches the agent's console");

  is(errors.join('\n'), '', 'no errors in the pages');
} catch (e) {
  ok(false, 'the run: ' + (e.stack || e));
}
await finish(close);
