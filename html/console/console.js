// kefu agent console: one ES module (and attach.js), no build step.  It signs in with an
// agent JWT (pasted, or from the URL fragment #token=…), speaks the kefu
// wire contract v1 over one WebSocket, reconnects with backoff and
// `resume`, and renders every text as text.  See docs/console.md.

import { mountSettings } from './settings.js';
import { attachments } from './attach.js';
import { queueView } from './queue.js';
import { alerts } from './alerts.js';
import { apiClient } from './api.js';
import { transferPicker } from './transfer.js';
import { visitorPanel } from './visitor.js';
import { keyboard } from './keys.js';
import { mountSearch } from './search.js';
import { mountCanned } from './canned.js';
import { el } from './dom.js';

const I18N = {
  en: {
    signinTitle: 'Agent console', signinHelp: "Paste the agent token your shop's admin gave you, or open the sign-in link they sent.",
    token: 'Agent token', signin: 'Sign in', signout: 'Sign out', badToken: 'This is not an agent token.',
    expired: 'This token has expired: ask for a new sign-in link.', rejected: 'The server refused this token: {msg}',
    online: 'Online', away: 'Away', tabMine: 'Mine', tabQueue: 'Queue', tabClosed: 'History',
    notify: 'Enable desktop notifications', emptyTitle: 'No conversation selected',
    emptyHelp: 'New conversations appear on the left as visitors write in.',
    noConvs: 'Nothing here yet', noQueue: 'No one is waiting', noClosed: 'No earlier conversations',
    accept: 'Accept', transfer: 'Transfer', close: 'Close', earlier: 'Load earlier messages',
    reply: 'Reply', note: 'Internal note', send: 'Send', addNote: 'Add note',
    hint: 'Enter to send · Shift+Enter for a new line',
    replyPh: 'Write a reply…', notePh: 'Write an internal note — visitors never see it',
    noteLabel: 'Internal note', typing: '{name} is typing…', seen: 'Seen', sent: 'Sent', sending: 'Sending…',
    failed: 'Not sent: {code}', visitor: 'Visitor', noVisitor: 'Visitor details appear here.',
    attrs: 'Details', page: 'Current page', trail: 'Page trail', convInfo: 'Conversation',
    email: 'E-mail', phone: 'Phone', none: '—', started: 'Started', group: 'Group', entries: 'Entries', id: 'ID',
    st_queued: 'Queued', st_open: 'Open', st_closed: 'Closed',
    waiting: 'waiting {t}', withBot: 'with the bot {t}', queuePos: '#{n} in queue', assignedTo: 'with {name}',
    sysAccepted: '{name} accepted the conversation', sysAssigned: 'Assigned to {name}',
    sysTransferred: 'Transferred to {name}', sysClosed: 'Conversation closed by {name}', sysIdle: 'Closed automatically: no message for a while', sysJoined: '{name} joined',
    sysRated: 'Visitor rated {n}/5', sysRequeued: 'Back in the queue', denied: 'The server does not show this conversation to you any more.', suggested: 'Suggested reply', useReply: 'Use this reply',
    transferTitle: 'Transfer conversation', toGroup: 'To a group', toAgent: 'To an agent', cancel: 'Cancel',
    groupPh: 'Group name, e.g. aftersales', agentPh: 'Agent id, e.g. bob',
    connecting: 'Connecting…', connected: 'Connected', offline: 'Offline — reconnecting in {s} s',
    newMsg: 'New message', from: 'from {name}', you: 'You',
    notImpl: 'This server does not support “{what}” yet.', err: '{code}: {msg}',
    now: 'just now', lt1: '< 1 min', min: '{n} min', hour: '{n} h', day: '{n} d', closeConfirm: 'Click again to close',
    soundOn: 'Sound: on', soundOff: 'Sound: off', cueMsg: 'New message from {name}', cueConv: 'New conversation: {name}',
    offlineTag: 'left a message', pres_online: 'online', pres_away: 'away', pres_offline: 'offline',
    loadOf: '{n}/{m} open', loadN: '{n} open', loading: 'Loading…', pickerPartial: 'Agents could not be listed: the HTTP API is not reachable.',
    groupSub: '{on} online · {free} free', current: 'current group', pickGroup: 'Groups', pickAgent: 'Agents',
    device: 'Browser and device', dev_phone: 'phone', dev_tablet: 'tablet', dev_desktop: 'desktop',
    contactName: 'Contact name: {name}', prevConvs: 'Previous conversations', noPrev: 'None with you',
    events: 'Business events', closedBy: 'Closed by', byIdle: 'The system (no message for a while)', rating: 'Rating', notRated: 'Not rated', comment: 'Comment',
    keysTitle: 'Keyboard shortcuts', keysHelp: 'Shortcuts (?)', kNext: 'Next unread conversation', kCompose: 'Write a reply',
    kNote: 'Internal note', kTransfer: 'Transfer', kClose: 'Close the conversation (twice to confirm)', kQueue: 'The queue',
    kHelp: 'This list',
    tabBot: 'Bot', noBot: 'No conversation is with the bot', st_bot: 'Bot', takeOver: 'Take over',
    botReadOnly: 'The bot is answering this conversation. Take it over to reply.', botTag: 'Bot',
    sysHandoff: 'Handed to a person (asked by {by})', by_visitor: 'the visitor', by_rule: 'a rule', by_bot: 'the bot', by_api: 'the API',
    ruleTag: 'Rule', act_route: 'route', act_label: 'label', act_handoff: 'handoff', act_event: 'event', act_reply: 'reply', act_suggest: 'suggestion',
    faqTag: 'FAQ {id}', labels: 'Labels',
    qrToggle: 'Quick replies', qrPh: 'Buttons the visitor can tap, comma-separated (at most 10)'
  },
  zh: {
    signinTitle: '客服工作台', signinHelp: '粘贴管理员发给您的客服令牌，或直接打开登录链接。',
    token: '客服令牌', signin: '登录', signout: '退出登录', badToken: '这不是客服令牌。',
    expired: '令牌已过期，请向管理员索取新的登录链接。', rejected: '服务器拒绝了该令牌：{msg}',
    online: '在线', away: '离开', tabMine: '我的', tabQueue: '排队', tabClosed: '历史',
    notify: '开启桌面通知', emptyTitle: '未选择会话', emptyHelp: '访客发来消息后，新会话会出现在左侧。',
    noConvs: '暂无会话', noQueue: '没有访客在排队', noClosed: '暂无历史会话',
    accept: '接入', transfer: '转接', close: '结束', earlier: '查看更早的消息',
    reply: '回复', note: '内部备注', send: '发送', addNote: '添加备注',
    hint: 'Enter 发送 · Shift+Enter 换行',
    replyPh: '输入回复…', notePh: '输入内部备注——访客不可见',
    noteLabel: '内部备注', typing: '{name} 正在输入…', seen: '已读', sent: '已发送', sending: '发送中…',
    failed: '发送失败：{code}', visitor: '访客', noVisitor: '访客信息会显示在这里。',
    attrs: '访客资料', page: '当前页面', trail: '浏览轨迹', convInfo: '会话信息',
    email: '邮箱', phone: '手机号', none: '—', started: '开始时间', group: '技能组', entries: '消息数', id: '编号',
    st_queued: '排队中', st_open: '进行中', st_closed: '已结束',
    waiting: '已等待 {t}', withBot: '机器人接待 {t}', queuePos: '排队第 {n} 位', assignedTo: '由 {name} 接待',
    sysAccepted: '{name} 接入了会话', sysAssigned: '已分配给 {name}',
    sysTransferred: '已转接给 {name}', sysClosed: '{name} 结束了会话', sysIdle: '长时间无消息，会话已自动结束', sysJoined: '{name} 加入了会话',
    sysRated: '访客评分 {n}/5', sysRequeued: '已重新排队', denied: '服务器不再向您提供此会话的记录。', suggested: '推荐回复', useReply: '使用此回复',
    transferTitle: '转接会话', toGroup: '转给技能组', toAgent: '转给客服', cancel: '取消',
    groupPh: '技能组名称，例如 aftersales', agentPh: '客服编号，例如 bob',
    connecting: '正在连接…', connected: '已连接', offline: '连接已断开，{s} 秒后重连',
    newMsg: '新消息', from: '来自 {name}', you: '我',
    notImpl: '当前服务器尚不支持“{what}”。', err: '{code}：{msg}',
    now: '刚刚', lt1: '不到 1 分钟', min: '{n} 分钟', hour: '{n} 小时', day: '{n} 天', closeConfirm: '再次点击确认结束',
    soundOn: '提示音：开', soundOff: '提示音：关', cueMsg: '{name} 发来新消息', cueConv: '新会话：{name}',
    offlineTag: '留言', pres_online: '在线', pres_away: '离开', pres_offline: '离线',
    loadOf: '接待中 {n}/{m}', loadN: '接待中 {n}', loading: '加载中…', pickerPartial: '无法列出客服：HTTP API 不可达。',
    groupSub: '{on} 人在线 · {free} 人空闲', current: '当前技能组', pickGroup: '技能组', pickAgent: '客服',
    device: '浏览器与设备', dev_phone: '手机', dev_tablet: '平板', dev_desktop: '电脑',
    contactName: '留言姓名：{name}', prevConvs: '历史会话', noPrev: '此前未与您会话',
    events: '业务事件', closedBy: '结束人', byIdle: '系统（长时间无消息）', rating: '评价', notRated: '未评价', comment: '评价内容',
    keysTitle: '快捷键', keysHelp: '快捷键 (?)', kNext: '下一个未读会话', kCompose: '输入回复',
    kNote: '内部备注', kTransfer: '转接', kClose: '结束会话（按两次确认）', kQueue: '排队列表',
    kHelp: '显示本列表',
    tabBot: '机器人', noBot: '暂无机器人接待中的会话', st_bot: '机器人接待', takeOver: '接管',
    botReadOnly: '机器人正在接待此会话，接管后即可回复。', botTag: '机器人',
    sysHandoff: '已转人工（{by}发起）', by_visitor: '访客', by_rule: '规则', by_bot: '机器人', by_api: 'API',
    ruleTag: '规则', act_route: '分配', act_label: '标签', act_handoff: '转人工', act_event: '事件', act_reply: '回复', act_suggest: '推荐回复',
    faqTag: '常见问题 {id}', labels: '标签',
    qrToggle: '快捷按钮', qrPh: '访客可点击的按钮，用逗号分隔（最多 10 个）'
  }
};

const params = new URLSearchParams(location.hash.slice(1));
const query = new URLSearchParams(location.search);
let lang = pickLang(query.get('lang') || params.get('lang') || localStorage.getItem('kefu.console.lang') ||
                    navigator.language);
let T = I18N[lang];

function pickLang(l) { return String(l || '').toLowerCase().startsWith('zh') ? 'zh' : 'en'; }
function t(key, vars) {
  return String(T[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? vars[k] : ''));
}

const $ = (id) => document.getElementById(id);
// ---- state ----

const st = {
  token: null, claims: null, site: null, wsUrl: null,
  ws: null, welcomed: false, tries: 0, timer: null, retryAt: 0, pingTimer: null, pongDue: 0,
  me: null, myName: '', status: localStorage.getItem('kefu.console.status') || 'online',
  convs: new Map(), selected: null, tab: 'mine', mode: 'reply',
  pending: new Map(),       // cid -> {conv, text, private, ts}
  typingSent: 0, typingOff: null, titleTimer: null, newCount: 0,
  unsupported: new Set(),
};

function conv(id) {
  let c = st.convs.get(id);
  if (!c) {
    c = { conv: id, state: 'queued', seq: 0, lastSeq: 0, unread: 0, agent: null, visitor: null, group: '',
          entries: new Map(), more: false, loaded: false, myRead: 0, peerRead: 0, typing: null,
          created: Date.now(), lastVisitorTs: 0, lastTs: 0, pages: [], position: null };
    st.convs.set(id, c);
  }
  return c;
}

// ---- sign in ----

function decodeJwt(tok) {
  try {
    const p = tok.split('.');
    if (p.length !== 3) return null;
    const b = p[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(escape(atob(b + '==='.slice((b.length + 3) % 4))));
    return JSON.parse(json);
  } catch (e) {
    return null;
  }
}

function signIn(tok, fromForm) {
  tok = (tok || '').trim();
  const claims = decodeJwt(tok);
  const err = $('signin-error');
  err.hidden = true;
  if (!claims || (claims.role !== 'agent' && claims.role !== 'admin') || !claims.site) {
    if (fromForm) { err.textContent = t('badToken'); err.hidden = false; }
    return false;
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    err.textContent = t('expired'); err.hidden = false;
    return false;
  }
  st.token = tok;
  st.claims = claims;
  st.site = claims.site;
  st.myName = claims.name || claims.sub;
  st.me = claims.sub;
  sessionStorage.setItem('kefu.console.token', tok);
  $('app').dataset.view = 'console';
  $('me-name').textContent = st.myName;
  $('me-groups').textContent = (claims.groups || []).join(' · ') || claims.role;
  setAvatar($('me-avatar'), st.myName);
  // the Settings area exists for admins only
  if (claims.role === 'admin' && !st.settingsUi) {
    st.settingsUi = mountSettings({ send, toast, lang, token: () => st.token, siteApi: () => st.siteApi });
  }
  mountFinders();
  connect();
  return true;
}

function signOut() {
  sessionStorage.removeItem('kefu.console.token');
  if (st.ws) { st.ws.onclose = null; st.ws.close(1000, 'signed out'); }
  location.hash = '';
  location.reload();
}

// ---- the connection ----

function send(m) {
  if (st.ws && st.ws.readyState === 1 && st.welcomed) {
    st.ws.send(JSON.stringify(m));
    return true;
  }
  return false;
}

function connect() {
  clearTimeout(st.timer);
  if (st.ws) return;
  const ws = new WebSocket(st.wsUrl);
  st.ws = ws;
  st.welcomed = false;
  setConn('connecting');
  ws.onopen = () => {
    // status in hello: an agent arrives online or away as it chose last time
    const hello = { type: 'hello', role: st.claims.role, site: st.site, token: st.token, status: st.status };
    const resume = {};
    let any = false;
    for (const c of st.convs.values()) {
      if (c.lastSeq > 0 && c.state !== 'closed') { resume[c.conv] = c.lastSeq; any = true; }
    }
    if (any) hello.resume = resume;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m && typeof m.type === 'string') onMessage(m);
  };
  ws.onclose = (ev) => {
    if (st.ws !== ws) return;
    st.ws = null;
    st.welcomed = false;
    clearInterval(st.pingTimer);
    if (ev.code === 4401 || ev.code === 4403) {
      sessionStorage.removeItem('kefu.console.token');
      $('app').dataset.view = 'signin';
      const err = $('signin-error');
      err.textContent = t('rejected', { msg: st.lastError || ev.reason || ev.code });
      err.hidden = false;
      return;
    }
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  clearTimeout(st.timer);
  let delay = Math.min(30000, 500 * 2 ** st.tries++);
  delay = delay / 2 + Math.random() * delay / 2;
  st.retryAt = Date.now() + delay;
  setConn('offline');
  st.timer = setTimeout(connect, delay);
}

function dropConnection() {
  const ws = st.ws;
  if (!ws) return;
  ws.onclose = null;
  st.ws = null;
  st.welcomed = false;
  clearInterval(st.pingTimer);
  try { ws.close(); } catch (e) { /* ignored */ }
}

function setConn(s) {
  st.conn = s;
  const c = $('conn');
  c.dataset.state = s;
  if (s === 'online') c.textContent = t('connected');
  else if (s === 'connecting') c.textContent = t('connecting');
  else c.textContent = t('offline', { s: Math.max(1, Math.round((st.retryAt - Date.now()) / 1000)) });
  renderComposerState();
}
setInterval(() => { if (st.conn === 'offline') setConn('offline'); }, 1000);

function heartbeat(secs) {
  clearInterval(st.pingTimer);
  st.pongDue = 0;
  st.pingTimer = setInterval(() => {
    if (st.pongDue && Date.now() > st.pongDue) {
      dropConnection();
      scheduleReconnect();
      return;
    }
    if (send({ type: 'ping', id: 'hb' })) st.pongDue = Date.now() + 10000;
  }, Math.max(5, Math.min(secs || 25, 25)) * 1000);
}

// ---- messages from the server ----

function onMessage(m) {
  let c;
  if (m.type === 'settings' && st.cannedUi) st.cannedUi.reload();
  if (st.settingsUi && st.settingsUi.onMessage(m)) return;
  if (queue.onMessage(m)) return;
  switch (m.type) {
  case 'welcome':
    st.welcomed = true;
    st.tries = 0;
    st.me = m.id;
    st.upload = m.upload || null;
    st.api = m.api || null;
    // the site's part of the API (api.js: #api= or ?api=, else welcome's)
    const apiBase = params.get('api') || query.get('api') || (st.api && st.api.url);
    st.siteApi = apiBase ? new URL(apiBase, location.href).href.replace(/\/+$/, '') +
                           '/sites/' + encodeURIComponent(st.site) : null;
    if (st.searchUi) {
      const u = st.siteApi;
      st.searchUi.ready(u);
      st.cannedUi.ready(u);
    }
    if (m.name) st.myName = m.name;
    setConn('online');
    heartbeat(m.heartbeat);
    for (const s of m.convs || []) {
      c = conv(s.conv);
      c.state = s.state;
      c.seq = Math.max(c.seq, s.seq || 0);
      if (s.agent) c.agent = mergeAgent(c.agent, s.agent);
      if (s.visitor) c.visitor = mergeVisitor(c.visitor, s.visitor);
      if (s.group) c.group = s.group;
      if (typeof s.position === 'number') c.position = s.position;
      if (Array.isArray(s.labels)) c.labels = s.labels;
      if (!c.loaded) c.serverUnread = s.unread || 0;
      if (!c.loaded && c.state !== 'closed') loadHistory(c);
    }
    act('status', { state: st.status });
    for (const [cid, p] of st.pending) {
      send({ type: 'msg', cid, conv: p.conv, text: p.text, private: p.private || undefined, attachment: p.attachment,
             buttons: p.buttons });
    }
    if (st.selected) {
      const s = conv(st.selected);
      if (!s.loaded) loadHistory(s);
    }
    renderAll();
    break;
  case 'pong':
    st.pongDue = 0;
    break;
  case 'conv':
    c = conv(m.conv);
    const was = st.convs.has(m.conv) ? c.state : null;
    c.state = m.state;
    if (m.agent !== undefined) c.agent = mergeAgent(c.agent, m.agent);
    if (m.visitor !== undefined) c.visitor = mergeVisitor(c.visitor, m.visitor);
    if (m.group) c.group = m.group;
    c.position = typeof m.position === 'number' ? m.position : null;
    if (Array.isArray(m.labels)) c.labels = m.labels;
    if (m.state === 'bot') {
      // entering the bot: the notice is a list item (queue.bots' shape)
      c.inQueue = true;
      if (typeof m.last === 'string') c.preview = m.last;
      if (m.since) c.created = m.since;
    }
    // what the bot said while we were not in the conversation: read again
    if (was === 'bot' && m.state !== 'bot' && c.loaded) loadHistory(c);
    if (m.reason === 'joined' && agentId(m.agent) !== st.me) c.joined = true;
    // a bot conversation another agent took over, or closed while the bot
    // had it (the visitor left): not ours to show, nor our History
    if (was === 'bot' && (m.state === 'open' && agentId(m.agent) !== st.me || m.state === 'closed') &&
        st.selected !== m.conv) {
      st.convs.delete(m.conv);
      renderAll();
      break;
    }
    // handed over by this agent: history, not its queue
    if (m.reason === 'transferred') c.handedOver = agentId(m.agent) !== st.me;
    if (m.state === 'open' && !c.loaded) loadHistory(c);
    if (m.state === 'queued' && was !== 'queued') notify(c, null);
    // a conversation just given to me: show it
    if (m.state === 'open' && was !== 'open' && agentId(c.agent) === st.me && !st.selected) select(m.conv);
    renderAll();
    break;
  case 'msg':
  case 'event':
    addEntry(m, true);
    break;
  case 'history':
    c = conv(m.conv);
    c.more = !!m.more;
    const first = !c.loaded;
    c.loaded = true;
    for (const h of m.msgs || []) {
      if (!h.type) h.type = h.name && h.text === undefined ? 'event' : 'msg';
      h.conv = h.conv || m.conv;
      att.fresh(h);
      addEntry(h, false);
    }
    if (first) {
      const others = [...c.entries.values()].filter((e) => e.seq && !isMine(e)).sort((a, b) => a.seq - b.seq);
      if (c.serverUnread !== undefined) {
        // what the server counted unread at hello stays unread until seen
        const n = c.serverUnread;
        c.myRead = n <= 0 ? c.lastSeq : n >= others.length ? 0 : others[others.length - n].seq - 1;
        // system lines (assigned, closed, ...) never count as unread here
        c.unread = others.filter((e) => e.seq > c.myRead && !isSystem(e)).length;
      } else {
        // given to us while connected: the visitor's words are all new
        c.myRead = 0;
        c.unread = others.filter((e) => e.from && e.from.role !== 'system').length;
      }
    }
    renderAll(first ? 'bottom' : 'keep');
    break;
  case 'ack': {
    const p = st.pending.get(m.cid);
    st.pending.delete(m.cid);
    c = conv(m.conv);
    const tmp = c.entries.get('c:' + m.cid);
    c.entries.delete('c:' + m.cid);
    if (!c.entries.has(m.seq)) {
      c.entries.set(m.seq, {
        type: 'msg', conv: m.conv, seq: m.seq, id: m.id, ts: m.ts, cid: m.cid,
        text: p ? p.text : (tmp && tmp.text), private: p ? p.private : false,
        attachment: p ? p.attachment : (tmp && tmp.attachment), buttons: p ? p.buttons : (tmp && tmp.buttons),
        from: { role: st.claims.role, id: st.me, name: st.myName },
      });
    }
    c.lastTs = Math.max(c.lastTs, m.ts || 0);
    renderAll('bottom');
    break;
  }
  case 'typing':
    if (m.from && m.from.id !== st.me) {
      c = conv(m.conv);
      clearTimeout(c.typingTimer);
      c.typing = m.on ? (m.from.name || visitorName(c)) : null;
      if (m.on) c.typingTimer = setTimeout(() => { c.typing = null; renderTyping(); }, 8000);
      renderTyping();
    }
    break;
  case 'read':
    c = conv(m.conv);
    if (m.from && m.from.role === 'visitor' && m.seq > c.peerRead) {
      c.peerRead = m.seq;
      if (m.conv === st.selected) renderTimeline('keep');
    }
    break;
  case 'presence':
    if (m.agent === st.me && (m.state === 'online' || m.state === 'away')) { st.status = m.state; renderPresence(); }
    break;
  case 'page':
    // a visitor's page change, where the server forwards it
    if (m.conv) addPage(conv(m.conv), { url: m.url, title: m.title, ts: m.ts });
    break;
  case 'error':
    onError(m);
    break;
  }
}

function agentId(a) { return a && (typeof a === 'string' ? a : a.id); }
function mergeAgent(old, a) {
  if (!a) return a;
  if (typeof a === 'string') return old && typeof old === 'object' && old.id === a ? old : { id: a };
  return a;
}
function mergeVisitor(old, v) {
  if (!v) return old;
  if (typeof v === 'string') return old && old.id === v ? old : { id: v };
  return Object.assign({}, old || {}, v);
}
// an anonymous visitor has only an id (v_ and 24 hex digits): show a
// short handle, the whole id is in the visitor panel
function visitorName(c) {
  const v = c.visitor;
  // bidirectional overrides in a name could reorder what is around it
  if (v && v.name) return String(v.name).replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
  if (v && v.id) return /^v_[0-9a-f]{8,}$/.test(v.id) ? t('visitor') + ' ' + v.id.slice(-4).toUpperCase() : v.id;
  return t('visitor');
}
function isMine(e) { return e.from && e.from.id === st.me && e.from.role !== 'visitor' && e.from.role !== 'system'; }
function isSystem(e) { return e.type !== 'event' && e.from && e.from.role === 'system'; }

function addEntry(m, live) {
  if (!m.conv || !m.seq) return;
  const c = conv(m.conv);
  if (c.entries.has(m.seq)) return;              // exactly once
  if (m.cid && c.entries.has('c:' + m.cid)) { c.entries.delete('c:' + m.cid); st.pending.delete(m.cid); }
  c.entries.set(m.seq, m);
  if (m.seq > c.lastSeq) c.lastSeq = m.seq;
  if (m.seq > c.seq) c.seq = m.seq;
  c.lastTs = Math.max(c.lastTs, m.ts || 0);
  const fromVisitor = m.from && m.from.role === 'visitor';
  if (fromVisitor) {
    c.lastVisitorTs = Math.max(c.lastVisitorTs, m.ts || 0);
    if (m.from.name && c.visitor && !c.visitor.name) c.visitor.name = m.from.name;
    if (!c.visitor) c.visitor = { id: m.from.id, name: m.from.name };
    if (c.typing) { c.typing = null; }
  }
  if (m.from && m.from.role === 'system' && m.agent && typeof m.agent === 'object') {
    if (!c.agentSeq || c.agentSeq < m.seq) { c.agent = m.agent; c.agentSeq = m.seq; }
  }
  if (m.seq === 1 || m.ts && m.ts < c.created) c.created = Math.min(c.created, m.ts || c.created);
  if (live && !isMine(m) && !isSystem(m)) {
    if (!(st.selected === m.conv && visible())) c.unread++;
    if (fromVisitor || m.type === 'event') notify(c, m);
  }
  if (live) renderAll(m.conv === st.selected ? 'bottom-if-near' : null);
}

function addPage(c, p) {
  if (!p || !p.url) return;
  const last = c.pages[c.pages.length - 1];
  if (!last || last.url !== p.url) c.pages.push(p);
  if (c.pages.length > 50) c.pages.shift();
  if (c.conv === st.selected) renderInfo();
}

function onError(m) {
  st.lastError = m.message || m.code;
  if (m.cid && st.pending.has(m.cid)) {
    const p = st.pending.get(m.cid);
    if (m.code === 'unavailable' || m.code === 'rate_limited') {
      setTimeout(() => send({ type: 'msg', cid: m.cid, conv: p.conv, text: p.text, private: p.private || undefined,
                              attachment: p.attachment, buttons: p.buttons }),
                 2000 + Math.random() * 2000);
      return;
    }
    st.pending.delete(m.cid);
    const e = conv(p.conv).entries.get('c:' + m.cid);
    if (e) { e.failed = m.code; renderTimeline('keep'); }
  }
  if (m.code === 'unavailable' && /not implemented/.test(m.message || '')) {
    const what = st.lastAction || '';
    if (what === 'status') { st.unsupported.add('status'); renderPresence(); return; }
    toast(t('notImpl', { what: what || m.message }));
    return;
  }
  if (m.code === 'unauthorized') return;   // the close follows
  if (m.code === 'forbidden' && st.lastAction === 'history' && st.historyConv) {
    // e.g. a closed conversation this server no longer lets us read
    const c = conv(st.historyConv);
    c.loaded = true;
    c.denied = true;
    if (c.conv === st.selected) renderTimeline('keep');
    return;
  }
  toast(t('err', { code: m.code, msg: m.message || '' }));
}

function loadHistory(c, before) {
  st.lastAction = 'history';
  st.historyConv = c.conv;
  const m = { type: 'history', conv: c.conv, limit: 50 };
  if (before) m.before = before;
  send(m);
}

// ---- actions ----

function act(type, fields) {
  st.lastAction = type;
  return send(Object.assign({ type }, fields));
}

function cidgen() {
  const a = new Uint8Array(8);
  crypto.getRandomValues(a);
  return 'a' + [...a].map((x) => (x % 36).toString(36)).join('') + Date.now().toString(36);
}

function sendText() {
  const input = $('input');
  const text = input.value.replace(/\s+$/, '');
  if (!text.trim() || !st.selected) return;
  const c = conv(st.selected);
  const cid = cidgen();
  const p = { conv: c.conv, text, private: st.mode === 'note', ts: Date.now() };
  // quick replies for the visitor (a reply's buttons; never a note's)
  const bi = $('buttons-input');
  if (!bi.hidden && !p.private) {
    const bs = bi.value.split(/[,，、]/).map((x) => x.trim()).filter(Boolean).slice(0, 10)
      .map((x) => ({ text: [...x].slice(0, 30).join('') }));
    if (bs.length) p.buttons = bs;
  }
  st.pending.set(cid, p);
  c.entries.set('c:' + cid, { type: 'msg', conv: c.conv, cid, text, private: p.private, ts: p.ts, pending: true,
                              buttons: p.buttons, from: { role: st.claims.role, id: st.me, name: st.myName } });
  send({ type: 'msg', cid, conv: c.conv, text, private: p.private || undefined, buttons: p.buttons });
  if (p.buttons) { bi.value = ''; bi.hidden = true; $('buttons-toggle').setAttribute('aria-pressed', 'false'); }
  input.value = '';
  typing(false);
  renderTimeline('bottom');
}

function typing(on) {
  clearTimeout(st.typingOff);
  if (!st.selected || st.mode === 'note') return;
  if (on) {
    if (Date.now() - st.typingSent > 3000 && send({ type: 'typing', conv: st.selected, on: true })) st.typingSent = Date.now();
    st.typingOff = setTimeout(() => typing(false), 4000);
  } else if (st.typingSent) {
    st.typingSent = 0;
    send({ type: 'typing', conv: st.selected, on: false });
  }
}

function markRead() {
  if (!st.selected || !visible() || st.conn !== 'online') return;
  const c = conv(st.selected);
  let max = 0;
  for (const e of c.entries.values()) if (e.seq && !isMine(e) && e.seq > max) max = e.seq;
  if (c.unread) { c.unread = 0; renderList(); }
  if (max > c.myRead) {
    c.myRead = max;
    send({ type: 'read', conv: c.conv, seq: max });
  }
}

function visible() { return document.visibilityState !== 'hidden' && document.hasFocus !== undefined; }

function select(id) {
  if (st.selected && st.selected !== id) typing(false);
  st.selected = id;
  if (typeof panel !== 'undefined') panel.invalidate(id);
  const c = conv(id);
  if (!c.loaded) loadHistory(c);
  $('app').dataset.pane = 'conv';
  renderAll('bottom');
  $('input').focus();
}

// ---- notifications ----

function notify(c, m) {
  // sound and cue whether the console is in front or not (alerts.js)
  if (!(m && st.selected === c.conv && visible() && document.hasFocus())) alertsUi.cue(c, m, visitorName(c));
  if (document.visibilityState !== 'hidden' && document.hasFocus()) return;
  st.newCount++;
  flashTitle();
  if ('Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification(m ? t('newMsg') + ' · ' + visitorName(c) : t('st_queued') + ' · ' + visitorName(c), {
        body: m ? (m.text || m.name || '') : '', tag: 'kefu-' + c.conv,
      });
      n.onclick = () => { window.focus(); select(c.conv); n.close(); };
    } catch (e) { /* ignored */ }
  }
}

const baseTitle = document.title;
function flashTitle() {
  if (st.titleTimer) return;
  let on = false;
  st.titleTimer = setInterval(() => {
    on = !on;
    document.title = on ? `(${st.newCount}) ${t('newMsg')} · kefu` : baseTitle;
  }, 1000);
}
function stopFlash() {
  clearInterval(st.titleTimer);
  st.titleTimer = null;
  st.newCount = 0;
  document.title = baseTitle;
}

// ---- rendering ----

function setAvatar(node, name) {
  node.textContent = (String(name || '?').trim()[0] || '?').toUpperCase();
  let h = 0;
  for (const ch of String(name || '')) h = (h * 31 + ch.codePointAt(0)) % 360;
  node.style.setProperty('--h', h);
}

function ago(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - ts) / 1000);
  if (s < 60) return t('now');
  if (s < 3600) return t('min', { n: Math.floor(s / 60) });
  if (s < 86400) return t('hour', { n: Math.floor(s / 3600) });
  return t('day', { n: Math.floor(s / 86400) });
}
function clock(ts) {
  const d = new Date(ts || Date.now());
  return d.toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
}

function sysText(e) {
  const name = (e.agent && (e.agent.name || e.agent.id)) || (e.from && e.from.name) || '';
  switch (e.event) {
  case 'accepted': return t('sysAccepted', { name });
  case 'assigned': return t('sysAssigned', { name });
  case 'transferred': return t('sysTransferred', { name: name || e.group || '' });
  case 'closed':
    // the idle sweep's close (docs/routing.md, "Idle conversations")
    if (e.by && e.by.reason === 'idle') return t('sysIdle');
    return t('sysClosed', { name: (e.by && (e.by.name || e.by.id)) || name });
  case 'joined': return t('sysJoined', { name });
  case 'requeued': return t('sysRequeued');
  case 'rated': return t('sysRated', { n: e.score });
  case 'handoff': return t('sysHandoff', { by: t('by_' + (e.by && typeof e.by === 'object' ? e.by.role : e.by)) });
  default: return e.text || e.event || '';
  }
}

function lastPreview(c) {
  const es = [...c.entries.values()].filter((e) => e.type !== 'event' && e.from && e.from.role !== 'system');
  es.sort((a, b) => (a.seq || 1e12) - (b.seq || 1e12));
  const e = es[es.length - 1];
  if (!e) return '';
  return (isMine(e) ? t('you') + ': ' : '') + (e.private ? '[' + t('noteLabel') + '] ' : '') +
         (e.text || (e.attachment ? '[' + e.attachment.name + ']' : ''));
}

// mine: open and mine (or joined); history: closed, or handed over to
// someone else
function isMineOpen(c) { return c.state === 'open' && (!c.agent || agentId(c.agent) === st.me || c.joined); }
function inTab(c) {
  if (st.tab === 'bot') return c.state === 'bot';
  if (st.tab === 'queue') return c.state === 'queued' && !c.handedOver;
  if (st.tab === 'closed') return c.state === 'closed' || (c.state === 'open' && !isMineOpen(c)) || !!c.handedOver;
  return isMineOpen(c);
}

function renderList() {
  const ul = $('convs');
  ul.textContent = '';
  const all = [...st.convs.values()];
  $('count-mine').textContent = all.filter(isMineOpen).length || '';
  $('count-queue').textContent = all.filter((c) => c.state === 'queued' && !c.handedOver).length || '';
  $('count-bot').textContent = all.filter((c) => c.state === 'bot').length || '';
  const list = all.filter(inTab).sort((a, b) => (st.tab === 'queue' ? (a.position ?? 1e9) - (b.position ?? 1e9) || a.created - b.created
                                                   : (b.lastTs || b.created) - (a.lastTs || a.created)));
  if (!list.length) {
    ul.appendChild(el('li', 'convs-empty muted', t(st.tab === 'queue' ? 'noQueue' : st.tab === 'closed' ? 'noClosed' :
                                                   st.tab === 'bot' ? 'noBot' : 'noConvs')));
  }
  for (const c of list) {
    const li = el('li', 'conv-item');
    li.setAttribute('role', 'option');
    li.tabIndex = 0;
    li.dataset.conv = c.conv;
    li.dataset.state = c.state;
    li.setAttribute('aria-selected', c.conv === st.selected ? 'true' : 'false');
    const av = el('div', 'avatar');
    setAvatar(av, visitorName(c));
    const body = el('div', 'ci-body');
    const top = el('div', 'ci-top');
    top.appendChild(el('span', 'ci-name', visitorName(c)));
    top.appendChild(el('span', 'ci-time muted', ago(c.lastTs || c.created)));
    const bottom = el('div', 'ci-bottom');
    bottom.appendChild(el('span', 'ci-text muted', lastPreview(c) || c.preview || c.conv));
    if (c.unread > 0) {
      const b = el('b', 'unread', c.unread > 99 ? '99+' : c.unread);
      b.setAttribute('aria-label', c.unread + ' unread');
      bottom.appendChild(b);
    }
    const tags = el('div', 'ci-tags');
    const pill = el('span', 'pill ' + c.state, t('st_' + c.state));
    tags.appendChild(pill);
    if (c.group) tags.appendChild(el('span', 'tag', c.group));
    for (const l of (c.labels || []).slice(0, 3)) tags.appendChild(el('span', 'tag label', l));
    const waitSince = waitingSince(c);
    if (waitSince) tags.appendChild(el('span', c.state === 'bot' ? 'wait bot' : 'wait', t(c.state === 'bot' ? 'withBot' : 'waiting', { t: Date.now() - waitSince < 60000 ? t('lt1') : ago(waitSince) })));
    if (c.state === 'queued' && typeof c.position === 'number') tags.appendChild(el('span', 'tag', t('queuePos', { n: c.position })));
    if (c.state === 'queued' && c.offline) tags.appendChild(el('span', 'tag offline', t('offlineTag')));
    body.append(top, bottom, tags);
    li.append(av, body);
    if (c.state === 'queued' || c.state === 'bot') {
      const a = el('button', 'btn small primary', t(c.state === 'bot' ? 'takeOver' : 'accept'));
      a.type = 'button';
      a.dataset.accept = c.conv;
      li.appendChild(a);
    }
    ul.appendChild(li);
  }
}

// waiting: queued since created, or the visitor's last message without an answer after it
function waitingSince(c) {
  if (c.state === 'closed') return 0;
  if (c.state === 'queued' || c.state === 'bot') return c.created;
  let lastV = 0, lastA = 0;
  for (const e of c.entries.values()) {
    if (!e.from) continue;
    if (e.from.role === 'visitor') lastV = Math.max(lastV, e.ts || 0);
    else if ((e.from.role === 'agent' || e.from.role === 'admin') && !e.private) lastA = Math.max(lastA, e.ts || 0);
  }
  return lastV > lastA ? lastV : 0;
}

function renderHead() {
  const c = st.selected && conv(st.selected);
  $('empty').hidden = !!c;
  $('conv').hidden = !c;
  if (!c) return;
  $('conv').dataset.conv = c.conv;
  $('conv').dataset.state = c.state;
  $('conv-name').textContent = visitorName(c);
  setAvatar($('conv-avatar'), visitorName(c));
  const pill = $('conv-state');
  pill.className = 'pill ' + c.state;
  pill.textContent = t('st_' + c.state);
  const bits = [];
  if (c.group) bits.push(c.group);
  if (c.state === 'queued' && typeof c.position === 'number') bits.push(t('queuePos', { n: c.position }));
  if (c.agent && agentId(c.agent) !== st.me) bits.push(t('assignedTo', { name: c.agent.name || c.agent.id }));
  $('conv-sub').textContent = bits.join(' · ');
  const lb = $('conv-labels');
  lb.textContent = '';
  for (const l of c.labels || []) lb.appendChild(el('span', 'tag label', l));
  lb.hidden = !(c.labels && c.labels.length);
  $('accept').hidden = c.state !== 'queued' && c.state !== 'bot';
  $('accept').textContent = t(c.state === 'bot' ? 'takeOver' : 'accept');
  $('transfer').hidden = c.state !== 'open';
  $('close').hidden = c.state !== 'open';
}

// an event's or a rule's entry: the list item, its card, the card's head
function cardEntry(kind) {
  const li = el('li', 'entry ' + kind);
  const card = el('div', kind + '-card');
  const h = el('div', kind + '-head');
  return [li, card, h];
}

// a suggested reply, with the button that fills the composer with it
function suggestion(c, e, label) {
  const s = el('div', 'suggest');
  if (label) s.appendChild(el('div', 'suggest-label', label));
  s.appendChild(el('div', 'suggest-text', e.suggested_reply));
  const b = el('button', 'btn small', t('useReply'));
  b.type = 'button';
  b.dataset.suggest = e.seq;
  b.disabled = !canWrite(c);     // nothing to fill while read-only
  s.appendChild(b);
  return s;
}

function entryNode(c, e) {
  if (e.type === 'event') {
    const [li, card, h] = cardEntry('event');
    h.appendChild(el('span', 'event-name', e.name));
    h.appendChild(el('span', 'muted', clock(e.ts)));
    card.appendChild(h);
    if (e.data && typeof e.data === 'object') {
      const dl = el('dl', 'event-data');
      for (const [k, v] of Object.entries(e.data).slice(0, 12)) {
        dl.append(el('dt', '', k), el('dd', '', typeof v === 'object' ? JSON.stringify(v) : v));
      }
      card.appendChild(dl);
    }
    if (e.suggested_reply) card.appendChild(suggestion(c, e, t('suggested')));
    li.appendChild(card);
    return li;
  }
  if (e.from && e.from.role === 'system' && e.event === 'rule') {
    // what a rule did, and which rule: agents see why something happened
    const [li, card, h] = cardEntry('rule');
    li.dataset.action = e.action || '';
    h.appendChild(el('span', 'rule-tag', t('ruleTag')));
    h.appendChild(el('span', 'rule-name', (e.rule && (e.rule.name || e.rule.id)) || ''));
    if (e.action) h.appendChild(el('span', 'rule-action', t('act_' + e.action)));
    h.appendChild(el('span', 'muted', clock(e.ts)));
    card.appendChild(h);
    if (e.text) card.appendChild(el('div', 'rule-text', e.text));
    if (e.suggested_reply) card.appendChild(suggestion(c, e));
    li.appendChild(card);
    return li;
  }
  if (e.from && e.from.role === 'system') {
    const li = el('li', 'entry system');
    li.appendChild(el('span', '', sysText(e) + ' · ' + clock(e.ts)));
    return li;
  }
  const mine = isMine(e);
  const visitor = e.from && e.from.role === 'visitor';
  const bot = e.from && e.from.role === 'bot';
  const li = el('li', 'entry msg ' + (visitor ? 'theirs' : 'ours') + (mine ? ' mine' : '') + (e.private ? ' note' : '') +
                (bot ? ' bot' : ''));
  const who = visitor ? (e.from.name || visitorName(c)) : mine ? t('you') : (e.from.name || e.from.id || e.from.role);
  const meta = el('div', 'meta');
  meta.appendChild(el('span', 'who', e.private ? t('noteLabel') + ' · ' + who : who));
  if (bot) meta.appendChild(el('span', 'bot-tag', t('botTag')));
  if (bot && e.faq) meta.appendChild(el('span', 'bot-src', t('faqTag', { id: e.faq })));
  if (bot && e.rule) meta.appendChild(el('span', 'bot-src', t('ruleTag') + ' ' + (typeof e.rule === 'object' ? e.rule.name || e.rule.id : e.rule)));
  meta.appendChild(el('span', 'time', clock(e.ts)));
  li.appendChild(meta);
  if (e.attachment) li.appendChild(att.node(e));
  if (e.text || !e.attachment) li.appendChild(el('div', 'bubble', e.text));
  if (Array.isArray(e.buttons) && e.buttons.length) {
    // the buttons the visitor was offered (shown, not clickable here)
    const bs = el('div', 'msg-buttons');
    for (const b of e.buttons.slice(0, 10)) {
      const x = el('span', 'msg-button' + (b && b.value === '__handoff__' ? ' handoff' : ''), b && b.text);
      if (b && b.value && b.value !== b.text) x.title = b.value;
      bs.appendChild(x);
    }
    li.appendChild(bs);
  }
  if (mine && !e.private) {
    const s = e.failed ? t('failed', { code: e.failed }) : e.pending ? t('sending') : c.peerRead >= e.seq ? t('seen') : t('sent');
    const r = el('div', 'receipt' + (c.peerRead >= e.seq && !e.pending ? ' seen' : ''), s);
    li.appendChild(r);
    li.dataset.status = e.failed ? 'failed' : e.pending ? 'sending' : c.peerRead >= e.seq ? 'read' : 'sent';
  }
  return li;
}

function renderTimeline(scroll) {
  const c = st.selected && conv(st.selected);
  if (!c) return;
  const tl = $('timeline');
  const near = tl.scrollHeight - tl.scrollTop - tl.clientHeight < 80;
  const oldHeight = tl.scrollHeight, oldTop = tl.scrollTop;
  const ol = $('entries');
  ol.textContent = '';
  const es = [...c.entries.values()].sort((a, b) => (a.seq || 1e12 + a.ts) - (b.seq || 1e12 + b.ts));
  for (const e of es) {
    const n = entryNode(c, e);
    if (e.seq) n.dataset.seq = e.seq;
    ol.appendChild(n);
  }
  // more before the oldest we hold (the live replay may have brought them all)
  const oldest = Math.min(...es.filter((e) => e.seq).map((e) => e.seq));
  $('earlier').hidden = !(c.more && oldest > 1);
  if (c.denied && !es.length) ol.appendChild(el('li', 'entry system', t('denied')));
  renderTyping();
  if (scroll === 'bottom' || (scroll === 'bottom-if-near' && near)) tl.scrollTop = tl.scrollHeight;
  else if (scroll === 'keep') tl.scrollTop = oldTop + (tl.scrollHeight - oldHeight) * (oldTop < 40 ? 1 : 0);
  markRead();
}

function renderTyping() {
  const c = st.selected && conv(st.selected);
  const ty = $('typing');
  ty.hidden = !(c && c.typing);
  if (c && c.typing) $('typing-text').textContent = t('typing', { name: c.typing });
}

function renderInfo() {
  const c = st.selected && conv(st.selected);
  $('info-empty').hidden = !!c;
  $('info-body').hidden = !c;
  if (!c) return;
  const v = c.visitor || {};
  $('info-name').textContent = visitorName(c);
  $('info-id').textContent = v.id || '';
  setAvatar($('info-avatar'), visitorName(c));
  const dl = $('info-attrs');
  dl.textContent = '';
  const attrs = v.attrs && typeof v.attrs === 'object' ? Object.entries(v.attrs) : [];
  // what the visitor left in the contact form (contract v2 "contact")
  const ct = v.contact && typeof v.contact === 'object' ? v.contact : {};
  for (const k of ['email', 'phone']) {
    if (ct[k]) attrs.unshift([k === 'email' ? t('email') : t('phone'), ct[k]]);
  }
  if (!attrs.length) dl.appendChild(el('dd', 'muted', t('none')));
  for (const [k, val] of attrs) dl.append(el('dt', '', k), el('dd', '', typeof val === 'object' ? JSON.stringify(val) : val));
  if (v.page && v.page.url) addPageQuiet(c, v.page);
  const cur = c.pages[c.pages.length - 1];
  const pg = $('info-page');
  pg.textContent = '';
  if (cur) pg.appendChild(pageLink(cur));
  else pg.appendChild(el('span', 'muted', t('none')));
  const ol = $('info-trail');
  ol.textContent = '';
  for (const p of c.pages.slice(0, -1).reverse()) {
    const li = el('li');
    li.appendChild(pageLink(p));
    ol.appendChild(li);
  }
  if (c.pages.length < 2) ol.appendChild(el('li', 'muted', t('none')));
  const ci = $('info-conv');
  ci.textContent = '';
  ci.append(el('dt', '', t('id')), el('dd', 'mono', c.conv));
  ci.append(el('dt', '', t('group')), el('dd', '', c.group || t('none')));
  ci.append(el('dt', '', t('started')), el('dd', '', new Date(c.created).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB')));
  ci.append(el('dt', '', t('entries')), el('dd', '', c.seq));
  panel.render(c);
}
function addPageQuiet(c, p) {
  const last = c.pages[c.pages.length - 1];
  if (!last || last.url !== p.url) c.pages.push({ url: p.url, title: p.title });
}
function pageLink(p) {
  const box = el('div', 'page-item');
  const title = el('div', 'page-title', p.title || p.url);
  box.appendChild(title);
  let a;
  if (/^https?:\/\//i.test(p.url)) {
    a = el('a', 'page-url', p.url);
    a.href = p.url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  } else {
    a = el('span', 'page-url', p.url);
  }
  box.appendChild(a);
  return box;
}

function renderPresence() {
  for (const b of document.querySelectorAll('.presence .seg')) {
    b.setAttribute('aria-pressed', b.dataset.status === st.status ? 'true' : 'false');
  }
  document.querySelector('.presence').classList.toggle('unsupported', st.unsupported.has('status'));
}

// the composer works in a conversation of ours: not a closed one, nor one
// the bot has (it is read-only until taken over)
function canWrite(c) { return !!c && c.state !== 'closed' && c.state !== 'bot'; }

function renderComposerState() {
  const c = st.selected && conv(st.selected);
  const input = $('input');
  input.placeholder = st.mode === 'note' ? t('notePh') : t('replyPh');
  $('send').textContent = st.mode === 'note' ? t('addNote') : t('send');
  $('composer').classList.toggle('note', st.mode === 'note');
  for (const b of document.querySelectorAll('.mode')) b.setAttribute('aria-selected', b.dataset.mode === st.mode ? 'true' : 'false');
  const closed = !canWrite(c);
  input.disabled = closed;
  $('send').disabled = closed;
  // a bot conversation is read-only until an agent takes it over
  $('bot-note').hidden = !(c && c.state === 'bot');
}

function renderAll(scroll) {
  renderList();
  renderHead();
  renderTimeline(scroll || 'keep');
  renderInfo();
  renderPresence();
  renderComposerState();
  if (!st.selected) $('app').dataset.pane = 'list';
}

function renderStatic() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const n of document.querySelectorAll('[data-t]')) n.textContent = t(n.dataset.t);
  for (const n of document.querySelectorAll('[data-t-title]')) n.title = t(n.dataset.tTitle);
  for (const n of document.querySelectorAll('[data-t-ph]')) n.placeholder = t(n.dataset.tPh);
  $('lang-switch').textContent = lang === 'zh' ? 'English' : '中文';
  if (alertsUi) alertsUi.renderToggle();
  if (st.settingsUi) st.settingsUi.setLang(lang);
  if (st.searchUi) { st.searchUi.setLang(lang); st.cannedUi.setLang(lang); }
  if (st.claims) { setConn(st.conn || 'connecting'); renderAll(); }
}

let toastN = 0;
function toast(text) {
  const box = el('div', 'toast', text);
  box.dataset.n = ++toastN;
  $('toasts').appendChild(box);
  setTimeout(() => box.classList.add('gone'), 4500);
  setTimeout(() => box.remove(), 5000);
}

// ---- wiring ----

$('signin-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('signin-token').value, true); });
$('signout').addEventListener('click', signOut);
$('lang-switch').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  T = I18N[lang];
  localStorage.setItem('kefu.console.lang', lang);
  renderStatic();
});
for (const b of document.querySelectorAll('.presence .seg')) {
  b.addEventListener('click', () => {
    st.status = b.dataset.status;
    localStorage.setItem('kefu.console.status', st.status);
    act('status', { state: st.status });
    renderPresence();
  });
}
for (const b of document.querySelectorAll('.tab')) {
  b.addEventListener('click', () => {
    st.tab = b.dataset.tab;
    for (const x of document.querySelectorAll('.tab')) x.setAttribute('aria-selected', x === b ? 'true' : 'false');
    renderList();
  });
}
$('convs').addEventListener('click', (ev) => {
  const acc = ev.target.closest('[data-accept]');
  if (acc) { act('accept', { conv: acc.dataset.accept }); select(acc.dataset.accept); return; }
  const li = ev.target.closest('.conv-item');
  if (li) select(li.dataset.conv);
});
$('convs').addEventListener('keydown', (ev) => {
  const li = ev.target.closest('.conv-item');
  if (!li) return;
  if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); select(li.dataset.conv); }
  if (ev.key === 'ArrowDown' && li.nextElementSibling) li.nextElementSibling.focus();
  if (ev.key === 'ArrowUp' && li.previousElementSibling) li.previousElementSibling.focus();
});
$('back').addEventListener('click', () => { $('app').dataset.pane = 'list'; });
$('info-toggle').addEventListener('click', () => { $('app').classList.toggle('show-info'); });
$('accept').addEventListener('click', () => act('accept', { conv: st.selected }));
// closing takes a second click: a stray click does not end a conversation
$('close').addEventListener('click', () => {
  const b = $('close');
  if (b.dataset.confirm === st.selected) {
    delete b.dataset.confirm;
    b.textContent = t('close');
    act('close', { conv: st.selected });
    return;
  }
  b.dataset.confirm = st.selected;
  b.textContent = t('closeConfirm');
  setTimeout(() => { if (b.dataset.confirm) { delete b.dataset.confirm; b.textContent = t('close'); } }, 4000);
});
$('transfer').addEventListener('click', () => picker.open());
$('earlier').addEventListener('click', () => {
  const c = conv(st.selected);
  const min = Math.min(...[...c.entries.values()].filter((e) => e.seq).map((e) => e.seq));
  if (min > 1 && Number.isFinite(min)) loadHistory(c, min);
});
$('entries').addEventListener('click', (ev) => {
  const b = ev.target.closest('[data-suggest]');
  if (!b) return;
  const e = conv(st.selected).entries.get(Number(b.dataset.suggest));
  if (e && e.suggested_reply) {
    st.mode = 'reply';
    $('input').value = e.suggested_reply;
    renderComposerState();
    $('input').focus();
  }
});
for (const b of document.querySelectorAll('.mode')) {
  b.addEventListener('click', () => { typing(false); st.mode = b.dataset.mode; renderComposerState(); $('input').focus(); });
}
$('composer').addEventListener('submit', (ev) => { ev.preventDefault(); sendText(); });
$('buttons-toggle').addEventListener('click', () => {
  const bi = $('buttons-input');
  bi.hidden = !bi.hidden;
  $('buttons-toggle').setAttribute('aria-pressed', bi.hidden ? 'false' : 'true');
  (bi.hidden ? $('input') : bi).focus();
});
$('buttons-input').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') { ev.preventDefault(); $('input').focus(); }
});
$('input').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendText(); }
});
$('input').addEventListener('input', () => typing($('input').value.length > 0));
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') { stopFlash(); markRead(); } });
window.addEventListener('focus', () => { stopFlash(); markRead(); });
window.addEventListener('offline', () => { dropConnection(); scheduleReconnect(); });
window.addEventListener('online', () => { st.tries = 0; clearTimeout(st.timer); connect(); });
setInterval(() => { if (st.claims) renderList(); }, 30000);
// a bot conversation being read is not streamed to the agent: its history
// is asked again now and then while it is open on screen
setInterval(() => {
  const c = st.selected && st.convs.get(st.selected);
  if (c && c.state === 'bot' && visible()) loadHistory(c);
}, 4000);

if ('Notification' in window && Notification.permission === 'default') {
  const n = $('notify');
  n.hidden = false;
  n.addEventListener('click', () => Notification.requestPermission().then(() => { n.hidden = Notification.permission !== 'default'; }));
}

// ---- search (search.js) and canned replies (canned.js) ----

function mountFinders() {
  if (st.searchUi) return;
  st.searchUi = mountSearch({ token: () => st.token, open: openFound, lang, ago });
  st.cannedUi = mountCanned({ input: $('input'), composer: $('composer'), token: () => st.token, lang,
                              context: cannedContext, toast });
}

// a conversation the console does not have (closed, or no longer the
// agent's) opens read-only, from its history
function openFound(id) {
  if (!st.convs.has(id)) {
    const c = conv(id);
    c.state = 'closed';
    c.found = true;
  }
  select(id);
}

function cannedContext() {
  const c = st.selected && st.convs.get(st.selected);
  let name = c && c.visitor && c.visitor.name;
  if (!name && c) {
    for (const e of c.entries.values()) if (e.from && e.from.role === 'visitor' && e.from.name) name = e.from.name;
  }
  return { visitor: { name, attrs: (c && c.visitor && c.visitor.attrs) || {} }, agent: { name: st.myName } };
}

// ---- attachments (attach.js) ----

const att = attachments({ st, conv, send, cidgen, el, renderTimeline, toast, lang: () => lang });

// ---- the agents' view: queue, alerts, transfer picker, visitor panel, keys ----

st.renderInfo = renderInfo;
const api = apiClient({ st });
var alertsUi = alerts({ t, el, $, onOpen: (id) => { st.tab = tabOf(conv(id)); syncTabs(); select(id); } });
const queue = queueView({ st, conv, send, renderAll, cue: (c) => notify(c, null) });
const picker = transferPicker({ st, api, t, el, $, act });
const panel = visitorPanel({ st, api, t, el, $, select, clock });
function tabOf(c) { return c.state === 'queued' ? 'queue' : c.state === 'bot' ? 'bot' : isMineOpen(c) ? 'mine' : 'closed'; }
function syncTabs() {
  for (const x of document.querySelectorAll('.tab')) x.setAttribute('aria-selected', x.dataset.tab === st.tab ? 'true' : 'false');
}
keyboard({ t, el, $, actions: {
  kNext() {
    // the next conversation with unread messages, after the one open
    const all = [...st.convs.values()].filter((c) => c.unread > 0 && c.conv !== st.selected)
      .sort((a, b) => (b.lastTs || b.created) - (a.lastTs || a.created));
    const c = all[0];
    if (!c) return;
    st.tab = tabOf(c);
    syncTabs();
    select(c.conv);
  },
  kCompose() { if (st.selected) { st.mode = 'reply'; renderComposerState(); $('input').focus(); } },
  kNote() { if (st.selected) { st.mode = st.mode === 'note' ? 'reply' : 'note'; renderComposerState(); $('input').focus(); } },
  kTransfer() { if (st.selected && !$('transfer').hidden) picker.open(); },
  kClose() { if (st.selected && !$('close').hidden) $('close').click(); },
  kQueue() { st.tab = 'queue'; syncTabs(); renderList(); },
} });

// ---- start ----

st.wsUrl = params.get('ws') || query.get('ws') ||
           (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat';
renderStatic();
const handed = params.get('token');
if (handed) {
  // the token is not left in the address bar (nor in the history)
  history.replaceState(null, '', location.pathname + location.search);
}
if (!signIn(handed || sessionStorage.getItem('kefu.console.token'), !!handed)) {
  $('app').dataset.view = 'signin';
  $('signin-token').focus();
}
