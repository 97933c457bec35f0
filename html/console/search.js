// The console's search (docs/console.md, "Search"): a box above the
// conversation list that asks the HTTP API (GET <api>/search, the agent's
// own token) for conversations by words of their messages, Chinese
// included, and by visitor (name, id, e-mail, phone).  Results replace the
// list until the box is cleared; a click opens the conversation (one the
// agent no longer has opens read-only).  The API's address comes with the
// welcome ("api").

import { el } from './dom.js';

const I18N = {
  en: {
    ph: 'Search messages and visitors…', label: 'Search', clear: 'Clear search',
    visitors: 'Visitors', messages: 'Messages', none: 'Nothing found for “{q}”', more: 'More results',
    searching: 'Searching…', failed: 'Search failed: {msg}', unavailable: 'Search is not available on this server',
    convs: '{n} conversation(s)', note: 'Note', file: 'File: {name}',
  },
  zh: {
    ph: '搜索消息和访客…', label: '搜索', clear: '清除搜索',
    visitors: '访客', messages: '消息', none: '没有找到“{q}”', more: '更多结果',
    searching: '正在搜索…', failed: '搜索失败：{msg}', unavailable: '此服务器不支持搜索',
    convs: '{n} 个会话', note: '备注', file: '文件：{name}',
  },
};

// the query's words highlighted in a text, as text nodes and <mark>s
function highlight(node, text, q) {
  const words = q.toLowerCase().split(/[\s\p{P}\p{S}]+/u).filter(Boolean);
  const lower = text.toLowerCase();
  let i = 0;
  while (i < text.length) {
    let best = -1, len = 0;
    for (const w of words) {
      const j = lower.indexOf(w, i);
      if (j >= 0 && (best < 0 || j < best)) { best = j; len = w.length; }
    }
    if (best < 0) break;
    if (best > i) node.appendChild(document.createTextNode(text.slice(i, best)));
    node.appendChild(el('mark', '', text.slice(best, best + len)));
    i = best + len;
  }
  if (i < text.length) node.appendChild(document.createTextNode(text.slice(i)));
}

// mountSearch({ token: () => jwt, open(conv), lang, ago(ts) }): returns
// ready(apiUrl), setLang(lang)
export function mountSearch(o) {
  let T = I18N[o.lang] || I18N.en;
  let api = null, seq = 0, shown = null;
  const t = (k, v) => String(T[k]).replace(/\{(\w+)\}/g, (_, x) => (v && v[x] !== undefined ? v[x] : ''));

  const form = el('form', 'search');
  form.id = 'search';
  form.setAttribute('role', 'search');
  const input = el('input', 'field search-input');
  input.id = 'search-input';
  input.type = 'search';
  input.autocomplete = 'off';
  input.maxLength = 100;
  const clear = el('button', 'icon-btn search-clear', '×');
  clear.type = 'button';
  clear.id = 'search-clear';
  clear.hidden = true;
  form.append(input, clear);
  const box = el('div', 'search-results');
  box.id = 'search-results';
  box.hidden = true;
  box.setAttribute('aria-live', 'polite');
  const list = document.getElementById('convs');
  document.querySelector('.tabs').before(form);
  list.before(box);

  function show(on) {
    box.hidden = !on;
    list.hidden = on;
    clear.hidden = !on;
    form.classList.toggle('active', on);
  }

  async function run(q, before) {
    if (!api) { show(true); box.textContent = ''; box.appendChild(el('p', 'muted search-msg', t('unavailable'))); return; }
    const my = ++seq;
    if (!before) { show(true); box.textContent = ''; box.appendChild(el('p', 'muted search-msg', t('searching'))); }
    let r, j;
    try {
      r = await fetch(`${api}/search?q=${encodeURIComponent(q)}&limit=20${before ? '&before=' + before : ''}`,
                      { headers: { Authorization: 'Bearer ' + o.token() } });
      j = await r.json();
    } catch (e) {
      j = { error: { message: String(e.message || e) } };
    }
    if (my !== seq) return;           // a newer search went out meanwhile
    if (!before) box.textContent = '';
    box.querySelector('.search-more')?.remove();
    if (!r || !r.ok) {
      box.appendChild(el('p', 'error search-msg', t('failed', { msg: (j && j.error && j.error.message) || (r && r.status) })));
      return;
    }
    shown = q;
    render(j, q, !!before);
  }

  function render(j, q, append) {
    box.dataset.q = q;
    if (!append && !j.hits.length && !j.visitors.length) {
      box.appendChild(el('p', 'muted search-msg', t('none', { q })));
      return;
    }
    if (!append && j.visitors.length) {
      box.appendChild(el('h3', 'search-h', t('visitors')));
      const ul = el('ul', 'search-list');
      for (const v of j.visitors) {
        const li = el('li', 'search-hit search-visitor');
        li.tabIndex = 0;
        li.dataset.conv = v.convs[0] || '';
        li.dataset.visitor = v.id;
        const name = el('div', 'sh-name');
        highlight(name, v.name || v.id, q);
        const sub = el('div', 'sh-text muted');
        const parts = [v.id];
        if (v.contact && v.contact.email) parts.push(v.contact.email);
        if (v.contact && v.contact.phone) parts.push(v.contact.phone);
        highlight(sub, parts.join(' · '), q);
        li.append(name, sub, el('div', 'sh-meta muted', t('convs', { n: v.convs.length })));
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
    if (!append && j.hits.length) box.appendChild(el('h3', 'search-h', t('messages')));
    let ul = box.querySelector('ul.search-msgs');
    if (!ul) { ul = el('ul', 'search-list search-msgs'); box.appendChild(ul); }
    for (const h of j.hits) {
      const li = el('li', 'search-hit');
      li.tabIndex = 0;
      li.dataset.conv = h.conv;
      li.dataset.seq = h.seq;
      const top = el('div', 'sh-top');
      top.appendChild(el('span', 'sh-name', (h.from && (h.from.name || h.from.id)) || h.from?.role || ''));
      top.appendChild(el('span', 'sh-time muted', o.ago(h.ts)));
      const text = el('div', 'sh-text');
      if (h.private) text.appendChild(el('span', 'tag', t('note')));
      highlight(text, (h.text || (h.attachment ? t('file', { name: h.attachment }) : '')) + (h.cut ? '…' : ''), q);
      li.append(top, text);
      ul.appendChild(li);
    }
    if (j.next) {
      const more = el('button', 'link search-more', t('more'));
      more.type = 'button';
      more.onclick = () => run(q, j.next);
      box.appendChild(more);
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = input.value.trim();
    if (q) run(q); else reset();
  });
  function reset() { seq++; shown = null; input.value = ''; box.textContent = ''; show(false); }
  clear.addEventListener('click', () => { reset(); input.focus(); });
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') reset(); });
  function pick(li) {
    if (!li || !li.dataset.conv) return;
    for (const x of box.querySelectorAll('.search-hit[aria-selected]')) x.removeAttribute('aria-selected');
    li.setAttribute('aria-selected', 'true');
    o.open(li.dataset.conv, Number(li.dataset.seq) || 0);
  }
  box.addEventListener('click', (ev) => pick(ev.target.closest('.search-hit')));
  box.addEventListener('keydown', (ev) => {
    const li = ev.target.closest('.search-hit');
    if (!li) return;
    if (ev.key === 'Enter') { ev.preventDefault(); pick(li); }
    const all = [...box.querySelectorAll('.search-hit')];
    const i = all.indexOf(li);
    if (ev.key === 'ArrowDown' && all[i + 1]) { ev.preventDefault(); all[i + 1].focus(); }
    if (ev.key === 'ArrowUp' && all[i - 1]) { ev.preventDefault(); all[i - 1].focus(); }
  });

  function setLang(l) {
    T = I18N[l] || I18N.en;
    input.placeholder = t('ph');
    input.setAttribute('aria-label', t('label'));
    clear.title = t('clear');
    clear.setAttribute('aria-label', t('clear'));
    if (shown) run(shown);
  }
  setLang(o.lang);

  return {
    ready(url) { api = url || null; form.hidden = false; },
    setLang,
  };
}
