// Rules and the FAQ in the console's Settings (issue 15): an admin sees
// the stored bot and FAQ, adds a rule with the forms (not JSON), sees a
// server error land on the field it names, tries the unsaved rule and the
// FAQ ("Try it": what fires, why, what it would do; the FAQ bot's
// decision), saves, and the stored rule is what the forms said.
// Run by t/059-browser-rules.t.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, plan, jwt, ok, is, shot, finish, watchErrors, root, expectRefused } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const API = `${base}/kefu/api/sites/${site}`;
const errors = [];
const { browser, close } = await launch();

const adminTok = jwt({ sub: 'boss', role: 'admin', site, name: 'Boss' }, secret);
async function api(method, path, body) {
  const r = await fetch(API + path, {
    method, headers: { Authorization: 'Bearer ' + adminTok, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

// the demo's tea shop: its bot, six FAQ entries and seven rules (zh and en)
const DEMO = JSON.parse(readFileSync(join(root, 'docs', 'demo-settings.json'), 'utf8'));
const SETTINGS = { bot: DEMO.bot, faq: DEMO.faq, rules: DEMO.rules };
const N = DEMO.rules.length;
// the same document whatever the order of its keys
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));

plan(26);
try {
  await api('PUT', '/settings', SETTINGS);
  const before = await api('GET', '/settings');
  const doc0 = before.settings || before;

  // ---- the demo's bot, FAQ and rules in Settings, saved back unchanged ----
  const sctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'en-US' });
  const s = await sctx.newPage();
  watchErrors(s, 'admin console', errors);
  await s.goto(`${base}/console/#token=${adminTok}`);
  await s.waitForSelector('#conn[data-state="online"]');
  await s.click('#settings-open');
  await s.waitForFunction(() => document.querySelector('#settings').dataset.version !== undefined);
  is(await s.inputValue('[data-field="faq[0].id"]'), DEMO.faq[0].id, 'Settings shows the stored FAQ');
  is(await s.$$eval('.faq-entry', (x) => x.length), DEMO.faq.length, 'every entry of it');
  is(await s.$$eval('.auto-card.rule', (x) => x.length), N, 'and every rule, as forms');
  ok(await s.isChecked('[data-field="bot.enabled"]'), 'the bot on');
  is(await s.inputValue('[data-field="bot.name.zh"]'), DEMO.bot.name.zh, 'with its name');
  is(await s.inputValue('[data-field="rules[0].if[0].keywords"]'), DEMO.rules[0].if[0].keywords.join(', '), "a rule's keywords");
  await s.evaluate(() => document.querySelector('.auto-faq').scrollIntoView());
  await shot(s, '059-desktop-settings-faq-en');
  const v0 = await s.getAttribute('#settings', 'data-version');
  await s.click('#settings-save');
  await s.waitForFunction((v) => document.querySelector('#settings').dataset.version !== v, v0);
  const after = await api('GET', '/settings');
  const doc1 = after.settings || after;
  for (const k of ['bot', 'faq', 'rules']) {
    ok(same(doc1[k], doc0[k]), `saved unchanged from the forms: the same ${k}`,
       JSON.stringify(doc1[k]) + '\n' + JSON.stringify(doc0[k]));
  }

  // ---- an admin adds a rule and tries it ----
  await s.click('#rules-add');
  await s.fill(`[data-field="rules[${N}].id"]`, 'refund-fast');
  await s.fill(`[data-field="rules[${N}].name"]`, '退款优先');
  await s.fill(`[data-field="rules[${N}].if[0].keywords"]`, '退款, refund');
  await s.selectOption(`[data-field="rules[${N}].then[0].kind"]`, 'route');
  await s.fill(`[data-field="rules[${N}].then[0].route"]`, 'aftersales');
  await s.click(`.rule[data-index="${N}"] .auto-add-then`);
  await s.selectOption(`[data-field="rules[${N}].then[1].kind"]`, 'label');
  await s.fill(`[data-field="rules[${N}].then[1].label"]`, 'refund');
  // a condition the server refuses: the error lands on its field
  await s.click(`.rule[data-index="${N}"] .auto-add-if`);
  await s.selectOption(`[data-field="rules[${N}].if[1].kind"]`, 'attr');
  await s.fill(`[data-field="rules[${N}].if[1].attr"]`, 'vip');
  await s.selectOption(`[data-field="rules[${N}].if[1].op"]`, 'gt');
  await s.fill(`[data-field="rules[${N}].if[1].value"]`, 'gold');
  await s.click('#settings-save');
  await s.waitForSelector('#settings-error:not([hidden])');
  const bad = await s.getAttribute('#settings-error', 'data-field');
  ok(new RegExp(`^rules\\[${N}\\]\\.if\\[1\\]`).test(bad), 'a bad condition is refused, naming it: ' + bad);
  ok(await s.$eval(`[data-field="rules[${N}].if[1].value"], [data-field="rules[${N}].if[1].op"]`,
                   (e) => !!e.closest('.cond').querySelector('.invalid')), 'and the field is marked');
  await shot(s, '059-desktop-settings-rule-error-en');
  expectRefused(errors, 400);
  await s.click(`[data-field="rules[${N}].if[1].kind"] ~ .auto-x`);
  ok(!(await s.$(`[data-field="rules[${N}].if[1].kind"]`)), 'the condition removed');

  // try it, unsaved
  await s.fill('#try-text', 'I want a refund for my tea');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"]');
  is(await s.getAttribute('#try-out .try-rule[data-rule="refund-fast"]', 'data-fires'), 'true', 'Try it: the unsaved rule fires');
  ok((await s.textContent('#try-out .try-rule[data-rule="refund-fast"] .try-why')).includes('refund'), 'naming the keyword why');
  ok((await s.textContent('#try-out .try-rule[data-rule="refund-fast"] .try-acts')).includes('aftersales'), 'and what it would do');
  await s.fill('#try-text', 'When do you ship?');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"] .try-decision');
  is(await s.getAttribute('#try-out .try-rule[data-rule="refund-fast"]', 'data-fires'), 'false', 'another message: the rule does not fire');
  is(await s.getAttribute('#try-out .try-decision', 'data-decision'), 'answer', 'and the FAQ bot would answer');
  ok(!!(await s.$('#try-out .try-entry[data-faq="shipping"]')), 'with the shipping entry');
  await shot(s, '059-desktop-settings-try-en');

  // a business event: the demo's big-order rule, by the event's data
  await s.selectOption('[data-field="try.when"]', 'event');
  await s.fill('[data-field="try.event"]', 'order.paid');
  await s.fill('[data-field="try.data"]', '{"amount": 1500}');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"]');
  is(await s.getAttribute('#try-out .try-rule[data-rule="big-order"]', 'data-fires'), 'true', 'an event with its data: the big-order rule fires');
  await s.fill('[data-field="try.data"]', '{"amount": 15}');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"]');
  is(await s.getAttribute('#try-out .try-rule[data-rule="big-order"]', 'data-fires'), 'false', 'a small one: it does not');

  await s.click('#settings-save');
  await s.waitForSelector('.toast >> text=Saved');
  const stored = await api('GET', '/settings');
  const doc = stored.settings || stored;
  is(JSON.stringify(doc.rules[N].then), JSON.stringify([{ route: 'aftersales' }, { label: 'refund' }]), 'saved: the rule as the forms said');

  // a document over a WebSocket message's 64k: the console saves it over the API
  const big = DEMO.faq.concat(Array.from({ length: 50 }, (_, i) =>
    ({ id: 'big' + i, question: 'Question ' + i, answer: 'x'.repeat(2000) })));
  const put = await api('PUT', '/settings', { ...stored.stored, faq: big });
  ok(JSON.stringify(put.stored).length > 100000, 'a stored document of over 100 KB');
  await s.click('#settings-close');
  await s.click('#settings-open');
  await s.waitForSelector(`#settings[data-version="${put.version}"]`);
  await s.click('#settings-save');
  await s.waitForSelector(`#settings-form[data-version="${put.version + 1}"]`);
  const bigAfter = await api('GET', '/settings');
  is(bigAfter.version, put.version + 1, 'the console saved it: the next version');
  is((bigAfter.stored.faq || []).length, big.length, 'with every FAQ entry');

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
