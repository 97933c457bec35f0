// Alerts: a sound (on unless turned off; the choice is remembered) and a
// visible cue for a new conversation or a visitor's message, whether the
// console is in front or not.  The title flash and desktop notifications
// for a background tab stay in console.js.  Used by console.js.

// a short two-tone chime, made here: 8 kHz, 8-bit mono PCM in a WAV
function chime() {
  const rate = 8000, n = Math.floor(rate * 0.36);
  const data = new Uint8Array(44 + n);
  const dv = new DataView(data.buffer);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) data[o + i] = s.charCodeAt(i); };
  str(0, 'RIFF'); dv.setUint32(4, 36 + n, true); str(8, 'WAVE'); str(12, 'fmt ');
  dv.setUint32(16, 16, true); dv.setUint16(20, 1, true); dv.setUint16(22, 1, true);
  dv.setUint32(24, rate, true); dv.setUint32(28, rate, true); dv.setUint16(32, 1, true);
  dv.setUint16(34, 8, true); str(36, 'data'); dv.setUint32(40, n, true);
  for (let i = 0; i < n; i++) {
    const tt = i / rate, f = tt < 0.16 ? 880 : 1320;
    const env = Math.min(1, (n - i) / 400) * Math.min(1, i / 80);
    data[44 + i] = 128 + Math.round(60 * env * Math.sin(2 * Math.PI * f * tt));
  }
  let bin = '';
  for (const b of data) bin += String.fromCharCode(b);
  return 'data:audio/wav;base64,' + btoa(bin);
}

export function alerts({ t, el, $, onOpen }) {
  const KEY = 'kefu.console.sound';
  let on = localStorage.getItem(KEY) !== 'off';
  let hideTimer = null;

  const audio = document.createElement('audio');
  audio.id = 'alert-sound';
  audio.preload = 'auto';
  audio.src = chime();
  audio.dataset.played = '0';
  document.body.appendChild(audio);

  const cueBox = $('cue');
  cueBox.addEventListener('click', () => {
    const id = cueBox.dataset.conv;
    hide();
    if (id) onOpen(id);
  });

  const btn = $('sound-toggle');
  function renderToggle() {
    btn.setAttribute('aria-pressed', on ? 'true' : 'false');
    btn.textContent = on ? t('soundOn') : t('soundOff');
  }
  btn.addEventListener('click', () => {
    on = !on;
    localStorage.setItem(KEY, on ? 'on' : 'off');
    renderToggle();
  });
  renderToggle();

  function hide() {
    cueBox.hidden = true;
    cueBox.dataset.conv = '';
  }

  // c: the conversation; m: the message (none for a new conversation)
  function cue(c, m, name) {
    cueBox.textContent = '';
    cueBox.appendChild(el('b', '', m ? t('cueMsg', { name }) : t('cueConv', { name })));
    const text = m ? (m.text || m.name || (m.attachment && '[' + m.attachment.name + ']') || '') : (c.preview || '');
    if (text) cueBox.appendChild(el('span', 'cue-text', text.length > 80 ? text.slice(0, 80) + '…' : text));
    cueBox.dataset.conv = c.conv;
    cueBox.dataset.kind = m ? 'msg' : 'conv';
    cueBox.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 8000);
    if (on) {
      try {
        audio.currentTime = 0;
        const p = audio.play();
        // counted when it really plays (a browser may refuse before any
        // click); a chime restarted while it still sounds fires no 'play'
        // event, but its promise resolves
        if (p && p.then) {
          p.then(() => { audio.dataset.played = String(+audio.dataset.played + 1); },
                 () => { /* not allowed before a click: the cue is enough */ });
        }
      } catch (e) { /* ignored */ }
    }
  }

  return { cue, hide, renderToggle, get on() { return on; } };
}
