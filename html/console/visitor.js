// Who the visitor is: the panel's extra sections.  From the conversation's
// `conv` notices (contract v2: name, attrs, current page, contact, and the
// User-Agent of its hello), from the HTTP API (its page trail, the rating
// of a closed conversation) and from what the console already holds (its
// previous conversations with this agent, the business events posted).
// Used by console.js; renderInfo() calls render().

// browser and device from a User-Agent: the common cases, plainly
export function describeUA(ua) {
  if (!ua) return null;
  const m = (re) => { const x = ua.match(re); return x ? x[1] : null; };
  let browser = 'Other';
  let v;
  if ((v = m(/MicroMessenger\/([\d.]+)/))) browser = 'WeChat ' + v.split('.')[0];
  else if ((v = m(/Edg(?:e|A|iOS)?\/([\d.]+)/))) browser = 'Edge ' + v.split('.')[0];
  else if ((v = m(/(?:OPR|Opera)\/([\d.]+)/))) browser = 'Opera ' + v.split('.')[0];
  else if ((v = m(/Firefox\/([\d.]+)/)) || (v = m(/FxiOS\/([\d.]+)/))) browser = 'Firefox ' + v.split('.')[0];
  else if ((v = m(/(?:Chrome|CriOS)\/([\d.]+)/))) browser = 'Chrome ' + v.split('.')[0];
  else if ((v = m(/Version\/([\d.]+).*Safari/))) browser = 'Safari ' + v.split('.')[0];
  let os = 'Other', device = 'desktop';
  if (/iPad/.test(ua)) { os = 'iPadOS'; device = 'tablet'; }
  else if (/iPhone|iPod/.test(ua)) { os = 'iOS ' + (m(/OS (\d+)_/) || ''); device = 'phone'; }
  else if (/Android/.test(ua)) { os = 'Android ' + (m(/Android ([\d.]+)/) || ''); device = /Mobile/.test(ua) ? 'phone' : 'tablet'; }
  else if (/Windows NT/.test(ua)) os = 'Windows';
  else if (/Mac OS X/.test(ua)) os = 'macOS';
  else if (/CrOS/.test(ua)) os = 'ChromeOS';
  else if (/Linux/.test(ua)) os = 'Linux';
  return { browser, os: os.trim(), device };
}

export function visitorPanel({ st, api, t, el, $, select, clock }) {
  const fetched = new Map();   // conv -> {at, data}

  // the API's view of the conversation: the page trail, the rating
  function details(c) {
    // only what this agent may read there: not a queued one, not without an API
    const aid = c.agent && (typeof c.agent === 'string' ? c.agent : c.agent.id);
    if (!api.available() || c.state === 'queued'
        || !(st.claims.role === 'admin' || c.joined || aid === st.me)) return null;
    const f = fetched.get(c.conv);
    if (f && (Date.now() - f.at < 15000 || f.busy)) return f.data;
    const rec = { at: Date.now(), data: f && f.data, busy: true };
    fetched.set(c.conv, rec);
    api.get('/convs/' + encodeURIComponent(c.conv)).then((d) => {
      rec.data = d;
      for (const p of (d.visitor && d.visitor.pages) || []) {
        const last = c.pages[c.pages.length - 1];
        if (!c.pages.some((x) => x.url === p.url && x.ts === p.ts) && !(last && last.url === p.url && !last.ts)) c.pages.push(p);
      }
      c.pages.sort((a, b) => (a.ts || 0) - (b.ts || 0));
      if (d.rating) c.rating = d.rating;
      if (d.group && !c.group) c.group = d.group;
      // what a welcome after a reload does not carry: the visitor's details
      if (d.visitor && typeof d.visitor === 'object') {
        c.visitor = Object.assign({}, c.visitor || {}, ...['name', 'attrs', 'contact', 'ua', 'page'].filter((k) => d.visitor[k]).map((k) => ({ [k]: d.visitor[k] })));
      }
    }).catch(() => { /* the panel shows what the WebSocket said */ })
      .finally(() => { rec.busy = false; rec.at = Date.now(); if (st.selected === c.conv) st.renderInfo(); });
    return rec.data;
  }

  function render(c) {
    details(c);
    const v = c.visitor || {};
    // browser and device
    const dev = $('info-device');
    dev.textContent = '';
    const d = describeUA(v.ua);
    if (d) {
      dev.appendChild(el('span', 'dev-browser', d.browser));
      dev.appendChild(el('span', 'dev-os', d.os));
      dev.appendChild(el('span', 'tag dev-kind', t('dev_' + d.device)));
      dev.title = v.ua;
    } else {
      dev.appendChild(el('span', 'muted', t('none')));
    }
    // the visitor's name from the contact form, when it differs
    if (v.contact && v.contact.name && v.contact.name !== v.name) {
      dev.appendChild(el('div', 'muted', t('contactName', { name: v.contact.name })));
    }
    // its earlier conversations this console may read: open them read-only
    const prev = $('info-prev');
    prev.textContent = '';
    const others = [...st.convs.values()]
      .filter((x) => x.conv !== c.conv && x.visitor && v.id && x.visitor.id === v.id && x.state === 'closed')
      .sort((a, b) => (b.lastTs || b.created) - (a.lastTs || a.created));
    for (const x of others.slice(0, 10)) {
      const li = el('li');
      const b = el('button', 'link prev-conv', new Date(x.lastTs || x.created).toLocaleString());
      b.type = 'button';
      b.dataset.conv = x.conv;
      li.appendChild(b);
      li.appendChild(el('span', 'muted', ' · ' + (x.preview || x.group || x.conv)));
      prev.appendChild(li);
    }
    if (!others.length) prev.appendChild(el('li', 'muted', t('noPrev')));
    // business events posted into this conversation
    const evs = $('info-events');
    evs.textContent = '';
    const es = [...c.entries.values()].filter((e) => e.type === 'event').sort((a, b) => a.seq - b.seq);
    for (const e of es.slice(-10)) {
      const li = el('li', 'ev-item');
      li.appendChild(el('span', 'ev-name', e.name));
      li.appendChild(el('span', 'muted', ' ' + clock(e.ts)));
      evs.appendChild(li);
    }
    if (!es.length) evs.appendChild(el('li', 'muted', t('none')));
    // a closed conversation: who closed it, the rating and comment
    const cl = $('info-closed');
    cl.textContent = '';
    cl.hidden = c.state !== 'closed';
    if (c.state === 'closed') {
      const closed = [...c.entries.values()].filter((e) => e.event === 'closed').pop();
      const by = closed && closed.by ? (closed.by.reason === 'idle' ? t('byIdle') : closed.by.name || closed.by.id) : null;
      cl.append(el('dt', '', t('closedBy')), el('dd', 'closed-by', by || t('none')));
      const r = c.rating;
      cl.append(el('dt', '', t('rating')),
                el('dd', 'rating', r && r.score ? '★'.repeat(r.score) + '☆'.repeat(5 - r.score) + ` ${r.score}/5` : t('notRated')));
      if (r && r.comment) cl.append(el('dt', '', t('comment')), el('dd', 'rating-comment', r.comment));
    }
  }

  // opened again: read again (a rating may have come since)
  function invalidate(id) { fetched.delete(id); }

  $('info-prev').addEventListener('click', (ev) => {
    const b = ev.target.closest('.prev-conv');
    if (b) select(b.dataset.conv);
  });

  return { render, invalidate };
}
