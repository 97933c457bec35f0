// An idle conversation closed by the sweep (docs/routing.md, "Idle
// conversations"): a visitor and an agent talk, then nobody writes; the
// scenario moves the conversation's last event two minutes back in Redis
// (idle_close is 60 s) and the next turn of the sweep closes it.  The
// console's history says it closed automatically, the widget says so to
// the visitor, in Chinese and in English.  Run by t/059-browser-idle.t.

import { execFileSync } from 'node:child_process';
import { launch, jwt, ok, is, plan, shot, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const errors = [];
const { browser, close } = await launch();

const conn = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online');

// the conversation quiet for two minutes: its score back, and the sweep's
// cursor and lease reset in the same step (a turn under way cannot move
// the cursor past it)
function idle(conv) {
  const lua = "redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[2]) "
            + "redis.call('HDEL', KEYS[2], 'cursor', 'lease', 'owner') return 1";
  // -c: on a cluster (scripts/test --cluster3) the site's slot may be
  // another master's than the seed's, which answers MOVED
  execFileSync('redis-cli', ['-c', '-p', process.env.KEFU_REDIS_PORT, 'EVAL', lua, '2',
    `kefu:{s:${site}}:convs`, `kefu:{s:${site}}:idle`, String(Date.now() - 120000), conv]);
}

async function scenario(lang, text, consoleText, widgetText, byText) {
  const me = 'idle' + lang + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: lang === 'zh' ? '李娜' : 'Lena', groups: [group], capacity: 1 }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: lang === 'zh' ? 'zh-CN' : 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console ' + lang, errors);
  await a.goto(`${base}/console/?lang=${lang}#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');

  const vctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                          deviceScaleFactor: 2, locale: lang === 'zh' ? 'zh-CN' : 'en-US' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor ' + lang, errors);
  await v.goto(`${base}/?lang=${lang}&group=${group}&site=${site}`);
  await conn(v);
  await v.tap(W.launcher);
  await v.fill(W.input, text);
  await v.tap('#kefu-widget .kf-send');
  // sent, or already read: the agent is online and may open it at once
  await v.waitForFunction(() => window.KefuWidget.conversation());
  const conv = await v.evaluate(() => window.KefuWidget.conversation());
  await a.waitForSelector(`.conv-item[data-conv="${conv}"]`);
  await a.click(`.conv-item[data-conv="${conv}"]`);
  await a.waitForSelector(`#conv[data-state="open"]`);

  idle(conv);
  await a.waitForSelector(`#entries >> text=${consoleText}`, { timeout: 30000 });
  ok(true, `${lang}: the console's history says it closed for want of messages`);
  await a.waitForSelector('#conv[data-state="closed"]');
  ok(true, `${lang}: the console shows it closed`);
  await a.waitForSelector(`.closed-by >> text=${byText}`);
  ok(true, `${lang}: closed by the system, in the visitor panel`);
  const w = await v.waitForFunction((t) => document.querySelector('#kefu-widget').shadowRoot
    .textContent.includes(t), widgetText, { timeout: 30000 });
  ok(!!w, `${lang}: the visitor's widget says so`);
  await shot(a, `059-console-idle-${lang}`);
  await shot(v, `059-phone-idle-${lang}`);
  await actx.close();
  await vctx.close();
}

plan(9);
try {
  await scenario('zh', '请问还在吗？', '长时间无消息，会话已自动结束', '长时间无消息，对话已自动结束',
                 '系统（长时间无消息）');
  await scenario('en', 'Is anyone there?', 'Closed automatically: no message for a while',
                 'The conversation was closed after a while without messages',
                 'The system (no message for a while)');
  is(errors.length, 0, 'no script errors in any page');
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
