// kefu agent console: attachments (docs/attachments.md).  A file button,
// paste and drag-and-drop; the upload goes over HTTP with the agent's token
// and a progress bar, then its answer is sent in a msg.  Images show as
// thumbnails (scaled by the browser, or made from the file itself) that
// open full size; other files as cards with name, type and size.  Links
// expire: an image that fails to load asks history for a fresh one.
//
// console.js gives it what it needs and calls node(e) for an entry's
// attachment and fresh(h) for each history entry.

const STRINGS = {
  en: {
    attach: 'Send a file', drop: 'Drop to send', uploading: 'Uploading… {p}%', open: 'Open full size',
    download: 'Download', tooLarge: '“{name}” is too large: files up to {max}.',
    badType: '“{name}” cannot be sent: {why}.', quota: 'Too many files this hour: try again later.',
    failed: '“{name}” was not sent: {why}', noConv: 'Open a conversation first.',
    noUpload: 'This server takes no files.', file: 'File'
  },
  zh: {
    attach: '发送文件', drop: '松开即可发送', uploading: '正在上传… {p}%', open: '查看原图',
    download: '下载', tooLarge: '“{name}”太大：文件不能超过 {max}。',
    badType: '“{name}”无法发送：{why}。', quota: '本小时发送的文件过多，请稍后再试。',
    failed: '“{name}”发送失败：{why}', noConv: '请先打开一个会话。',
    noUpload: '此服务器不接收文件。', file: '文件'
  }
};

export function attachments(k) {
  // k: { st, conv, send, cidgen, el, renderTimeline, toast, lang: () => 'en'|'zh' }
  const { st, el } = k;
  const s = (key, vars) => String(STRINGS[k.lang()][key]).replace(/\{(\w+)\}/g, (_, v) => (vars && vars[v] !== undefined ? vars[v] : ''));
  const httpBase = () => st.wsUrl.replace(/^ws/, 'http').replace(/^(https?:\/\/[^/]+).*$/, '$1');
  const fileUrl = (u) => (/^https?:/.test(u) ? u : httpBase() + u);
  const fmtSize = (n) => (n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + ' MB');
  const kind = (a) => ({ 'application/pdf': 'PDF', 'text/plain': 'TXT', 'application/zip': 'ZIP', 'video/mp4': 'MP4' }[a.type]
                       || ((a.name || '').split('.').pop() || 'FILE').slice(0, 4).toUpperCase());

  // ---- rendering ----

  function node(e) {
    const a = e.attachment;
    const wrap = el('div', 'att-wrap');
    let box;
    if (/^image\//.test(a.type || '') && (a.url || e.thumb)) {
      box = el('button', 'att att-img');
      box.type = 'button';
      box.title = s('open');
      box.setAttribute('aria-label', s('open') + ': ' + a.name);
      const img = el('img');
      img.alt = a.name || '';
      if (a.width && a.height) {
        let w = Math.min(260, a.width), h = Math.round(w * a.height / a.width);
        if (h > 260) { h = 260; w = Math.round(h * a.width / a.height); }
        img.width = Math.max(w, 24);
        img.height = Math.max(h, 24);
      }
      img.src = e.thumb || (a.url ? fileUrl(a.url) : '');
      img.addEventListener('error', () => refresh(e));
      box.appendChild(img);
      box.addEventListener('click', () => { if (a.url) lightbox(a); });
    } else {
      box = el(a.url ? 'a' : 'div', 'att att-file');
      if (a.url) {
        box.href = fileUrl(a.url);
        box.setAttribute('download', a.name || '');
        box.target = '_blank';
        box.rel = 'noopener';
        box.title = s('download');
      }
      box.appendChild(el('span', 'att-icon', kind(a)));
      const info = el('span', 'att-info');
      info.appendChild(el('span', 'att-name', a.name));
      info.appendChild(el('span', 'att-size muted', (a.type || s('file')) + ' · ' + fmtSize(a.size || 0)));
      box.appendChild(info);
    }
    wrap.appendChild(box);
    if (e.progress !== undefined && e.progress < 100 && !e.attError) {
      const bar = el('div', 'att-progress');
      bar.setAttribute('role', 'progressbar');
      const fill = el('i');
      bar.appendChild(fill);
      const label = el('div', 'att-progress-text muted');
      wrap.append(bar, label);
      e.paint = () => {
        fill.style.width = e.progress + '%';
        bar.setAttribute('aria-valuenow', String(e.progress));
        label.textContent = s('uploading', { p: e.progress });
      };
      e.paint();
    }
    if (e.attError) wrap.appendChild(el('div', 'att-error', e.attError));
    return wrap;
  }

  // ---- sending ----

  function thumb(file, done) {
    const url = URL.createObjectURL(file);
    const im = new Image();
    im.onload = () => {
      const f = Math.min(1, 520 / Math.max(im.naturalWidth, im.naturalHeight));
      const c = document.createElement('canvas');
      c.width = Math.max(1, Math.round(im.naturalWidth * f));
      c.height = Math.max(1, Math.round(im.naturalHeight * f));
      c.getContext('2d').drawImage(im, 0, 0, c.width, c.height);
      URL.revokeObjectURL(url);
      try { done(c.toDataURL('image/png')); } catch (err) { done(null); }
    };
    im.onerror = () => { URL.revokeObjectURL(url); done(null); };
    im.src = url;
  }

  function sendFiles(files) {
    for (const f of files || []) sendFile(f);
  }

  function sendFile(f) {
    if (!st.selected) { k.toast(s('noConv')); return; }
    const c = k.conv(st.selected);
    const name = f.name || 'image.png';
    const cid = k.cidgen();
    const priv = st.mode === 'note';
    const e = { type: 'msg', conv: c.conv, cid, text: '', private: priv, ts: Date.now(), pending: true, progress: 0,
                attachment: { name, type: f.type, size: f.size }, from: { role: st.claims.role, id: st.me, name: st.myName } };
    c.entries.set('c:' + cid, e);
    const up = st.upload;
    if (!up) e.attError = s('noUpload');
    else if (f.size > up.max_size) e.attError = s('tooLarge', { name, max: fmtSize(up.max_size) });
    if (e.attError) { e.failed = 'refused'; k.renderTimeline('bottom'); return; }
    if (/^image\//.test(f.type)) thumb(f, (u) => { if (u) { e.thumb = u; k.renderTimeline('keep'); } });
    k.renderTimeline('bottom');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', fileUrl(up.url) + '?site=' + encodeURIComponent(st.site) + '&conv=' + encodeURIComponent(c.conv)
             + '&name=' + encodeURIComponent(name));
    xhr.setRequestHeader('Authorization', 'Bearer ' + st.token);
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      e.progress = Math.min(99, Math.floor(ev.loaded * 100 / ev.total));
      if (e.paint) e.paint();
    };
    xhr.onload = () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch (err) { j = null; }
      if (xhr.status === 201 && j && j.attachment) {
        e.progress = 100;
        e.attachment = j.attachment;
        st.pending.set(cid, { conv: c.conv, text: '', private: priv, ts: e.ts, attachment: j.attachment });
        k.send({ type: 'msg', cid, conv: c.conv, text: '', private: priv || undefined, attachment: j.attachment });
        k.renderTimeline('keep');
        return;
      }
      failed(e, xhr.status, j);
    };
    xhr.onerror = () => failed(e, 0, null);
    xhr.send(f);
  }

  function failed(e, status, j) {
    const why = (j && j.error && j.error.message) || (status ? 'HTTP ' + status : 'network error');
    const name = e.attachment.name;
    e.failed = (j && j.error && j.error.code) || 'failed';
    e.attError = status === 413 ? s('tooLarge', { name, max: fmtSize(st.upload.max_size) })
      : status === 415 ? s('badType', { name, why })
      : status === 429 ? s('quota')
      : s('failed', { name, why });
    k.renderTimeline('keep');
  }

  // ---- links that expire ----

  function refresh(e) {
    if (e.refreshed || !e.seq || e.thumb) return;
    e.refreshed = true;
    k.send({ type: 'history', conv: e.conv, before: e.seq + 1, limit: 1 });
  }

  function fresh(h) {
    const old = h.attachment && h.conv && h.seq && k.conv(h.conv).entries.get(h.seq);
    if (old && old.attachment && old.attachment.url !== h.attachment.url) {
      old.attachment = h.attachment;
      if (h.conv === st.selected) k.renderTimeline('keep');
    }
  }

  // ---- the page ----

  const box = el('div', 'lightbox');
  box.hidden = true;
  box.setAttribute('role', 'dialog');
  const boxImg = el('img');
  box.appendChild(boxImg);
  box.addEventListener('click', () => { box.hidden = true; boxImg.removeAttribute('src'); });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !box.hidden) box.click(); });
  document.body.appendChild(box);
  function lightbox(a) {
    boxImg.alt = a.name || '';
    boxImg.src = fileUrl(a.url);
    box.hidden = false;
  }

  const input = document.createElement('input');
  input.type = 'file';
  input.multiple = true;
  input.hidden = true;
  input.id = 'file-input';
  input.addEventListener('change', () => { sendFiles([...input.files]); input.value = ''; });
  const btn = el('button', 'btn attach');
  btn.type = 'button';
  btn.id = 'attach';
  btn.title = s('attach');
  btn.setAttribute('aria-label', s('attach'));
  const ns = 'http://www.w3.org/2000/svg';
  const icon = document.createElementNS(ns, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('width', '20');
  icon.setAttribute('height', '20');
  icon.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M16.5 6v11.5a4 4 0 01-8 0V5a2.5 2.5 0 015 0v10.5a1 1 0 01-2 0V6H10v9.5a2.5 2.5 0 005 0V5a4 4 0 00-8 0v12.5a5.5 5.5 0 0011 0V6h-1.5z');
  icon.appendChild(path);
  btn.appendChild(icon);
  btn.addEventListener('click', () => input.click());
  const row = document.querySelector('#composer .compose-row');
  row.insertBefore(btn, row.firstChild);
  row.appendChild(input);

  document.getElementById('input').addEventListener('paste', (ev) => {
    const files = ev.clipboardData && ev.clipboardData.files;
    if (files && files.length) { ev.preventDefault(); sendFiles([...files]); }
  });
  const zone = document.getElementById('conv');
  zone.addEventListener('dragover', (ev) => {
    if (ev.dataTransfer && [...ev.dataTransfer.types].includes('Files')) {
      ev.preventDefault();
      zone.classList.add('dragging');
      zone.dataset.drop = s('drop');
    }
  });
  zone.addEventListener('dragleave', (ev) => { if (!zone.contains(ev.relatedTarget)) zone.classList.remove('dragging'); });
  zone.addEventListener('drop', (ev) => {
    zone.classList.remove('dragging');
    if (ev.dataTransfer && ev.dataTransfer.files.length) { ev.preventDefault(); sendFiles([...ev.dataTransfer.files]); }
  });

  return { node, fresh, sendFiles };
}
