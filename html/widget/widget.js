/*
 * kefu visitor widget: one tag on a shop's page,
 *
 *   <script src="/kefu/widget.js" data-site="shop1" async></script>
 *
 * or a whole page of its own (widget/index.html, for iframes and apps' web
 * views).  It speaks the kefu wire contract v2 over one WebSocket, keeps an
 * anonymous visitor's token in localStorage, reconnects with backoff and
 * `resume`, and keeps what was typed offline in an outbox (localStorage)
 * until the server acknowledges each message by its `cid`.  Text is always
 * rendered as text.  Options are the script tag's data-* attributes, see
 * docs/widget.md.  No build step, no dependencies.
 *
 * The file is ASCII only (other characters are written as \u escapes), so
 * it works on shop pages of any charset (GBK, Big5, ...) without a
 * charset on the script tag or the server's Content-Type.
 */
(function () {
    'use strict';

    var script = document.currentScript;
    if (!script || window.KefuWidget) {
        return;
    }

    var base = script.src.replace(/[^/]*([?#].*)?$/, '');
    var ds = script.dataset;

    var I18N = {
        en: {
            title: 'Customer service',
            launcher: 'Chat with us',
            close: 'Minimise chat',
            greeting: 'Hi there! How can we help you today?',
            placeholder: 'Type a message\u2026',
            send: 'Send',
            connecting: 'Connecting\u2026',
            offline: 'Offline \u2014 reconnecting\u2026',
            online: 'We usually reply within a few minutes',
            waiting: 'Waiting for an agent\u2026',
            position: 'You are number {n} in line',
            eta: 'about {m} min',
            etaSoon: 'less than a minute',
            leave: 'No one is online right now. Leave a message and we will reply here \u2014 you can close this page.',
            leaveHint: 'Leave your message here: we will answer even if you close this page.',
            requeued: 'Waiting for another agent\u2026',
            agentOnline: 'Online',
            typing: '{name} is typing\u2026',
            someone: 'Agent',
            you: 'You',
            sending: 'Sending',
            sent: 'Sent',
            read: 'Read',
            failed: 'Not sent',
            joined: '{name} joined the conversation',
            transferred: 'You have been transferred to {name}',
            closedNote: 'The conversation was closed',
            rateAsk: 'How did we do?',
            rateComment: 'Anything to add? (optional)',
            rateSend: 'Submit',
            rateThanks: 'Thank you for your feedback!',
            newConv: 'Write again any time to start a new conversation.',
            earlier: 'Load earlier messages',
            star: '{n} out of 5',
            queuedMsg: 'Will be sent when you are back online',
            powered: 'Powered by kefu',
            event: 'Update',
            awaySub: 'Leave a message',
            closedHours: 'Outside our opening hours',
            contactTitle: 'How can we reach you? We will answer by e-mail or phone too.',
            contactName: 'Your name',
            contactEmail: 'E-mail',
            contactPhone: 'Phone',
            contactSend: 'Send',
            contactSkip: 'Skip',
            contactNeed: 'Please give your name and an e-mail address or a phone number.',
            contactBad: 'Please check the e-mail address and the phone number.',
            contactThanks: 'Thank you, we will get back to you.',
            refused: 'The chat cannot start: the server refused this page\'s sign-in ({reason}).',
            erased: 'This chat and everything stored about you were deleted at the shop.',
            unreadTitle: '({n}) New message',
            unavailable: 'Unavailable',
            botName: 'Assistant',
            botTag: 'Bot',
            botSub: 'Our assistant is answering',
            botBanner: 'Our assistant is answering; a person is one click away.',
            handoff: 'Talk to a person',
            handedOff: 'Connecting you to a person\u2026',
            quick: 'Quick replies'
        },
        zh: {
            title: '\u5728\u7ebf\u5ba2\u670d',
            launcher: '\u8054\u7cfb\u5ba2\u670d',
            close: '\u6536\u8d77\u5bf9\u8bdd',
            greeting: '\u60a8\u597d\uff01\u8bf7\u95ee\u6709\u4ec0\u4e48\u53ef\u4ee5\u5e2e\u60a8\uff1f',
            placeholder: '\u8f93\u5165\u6d88\u606f\u2026',
            send: '\u53d1\u9001',
            connecting: '\u6b63\u5728\u8fde\u63a5\u2026',
            offline: '\u7f51\u7edc\u5df2\u65ad\u5f00\uff0c\u6b63\u5728\u91cd\u8fde\u2026',
            online: '\u901a\u5e38\u51e0\u5206\u949f\u5185\u56de\u590d',
            waiting: '\u6b63\u5728\u4e3a\u60a8\u63a5\u5165\u5ba2\u670d\u2026',
            position: '\u6b63\u5728\u6392\u961f\uff0c\u60a8\u662f\u7b2c {n} \u4f4d',
            eta: '\u9884\u8ba1 {m} \u5206\u949f',
            etaSoon: '\u4e0d\u5230 1 \u5206\u949f',
            leave: '\u5ba2\u670d\u6682\u65f6\u4e0d\u5728\u7ebf\u3002\u8bf7\u7559\u8a00\uff0c\u6211\u4eec\u4f1a\u5728\u8fd9\u91cc\u56de\u590d\u60a8\uff0c\u60a8\u53ef\u4ee5\u5148\u79bb\u5f00\u672c\u9875\u9762\u3002',
            leaveHint: '\u60a8\u53ef\u4ee5\u76f4\u63a5\u7559\u8a00\uff0c\u5373\u4f7f\u5173\u95ed\u9875\u9762\uff0c\u6211\u4eec\u4e5f\u4f1a\u5728\u8fd9\u91cc\u56de\u590d\u60a8\u3002',
            requeued: '\u6b63\u5728\u4e3a\u60a8\u8f6c\u63a5\u5176\u4ed6\u5ba2\u670d\u2026',
            agentOnline: '\u5728\u7ebf',
            typing: '{name} \u6b63\u5728\u8f93\u5165\u2026',
            someone: '\u5ba2\u670d',
            you: '\u6211',
            sending: '\u53d1\u9001\u4e2d',
            sent: '\u5df2\u53d1\u9001',
            read: '\u5df2\u8bfb',
            failed: '\u53d1\u9001\u5931\u8d25',
            joined: '{name} \u5df2\u63a5\u5165\u5bf9\u8bdd',
            transferred: '\u5df2\u4e3a\u60a8\u8f6c\u63a5\u81f3 {name}',
            closedNote: '\u5bf9\u8bdd\u5df2\u7ed3\u675f',
            rateAsk: '\u8bf7\u4e3a\u672c\u6b21\u670d\u52a1\u8bc4\u4ef7',
            rateComment: '\u8fd8\u6709\u4ec0\u4e48\u60f3\u8bf4\u7684\uff1f\uff08\u9009\u586b\uff09',
            rateSend: '\u63d0\u4ea4\u8bc4\u4ef7',
            rateThanks: '\u611f\u8c22\u60a8\u7684\u8bc4\u4ef7\uff01',
            newConv: '\u5982\u9700\u7ee7\u7eed\u54a8\u8be2\uff0c\u76f4\u63a5\u53d1\u9001\u6d88\u606f\u5373\u53ef\u5f00\u59cb\u65b0\u7684\u5bf9\u8bdd\u3002',
            earlier: '\u67e5\u770b\u66f4\u65e9\u7684\u6d88\u606f',
            star: '{n} \u661f',
            queuedMsg: '\u8054\u7f51\u540e\u81ea\u52a8\u53d1\u9001',
            powered: 'kefu \u63d0\u4f9b\u6280\u672f\u652f\u6301',
            event: '\u901a\u77e5',
            awaySub: '\u8bf7\u7559\u8a00',
            closedHours: '\u5f53\u524d\u4e0d\u5728\u670d\u52a1\u65f6\u95f4',
            contactTitle: '\u65b9\u4fbf\u7559\u4e0b\u8054\u7cfb\u65b9\u5f0f\u5417\uff1f\u6211\u4eec\u4e5f\u4f1a\u901a\u8fc7\u90ae\u4ef6\u6216\u7535\u8bdd\u56de\u590d\u60a8\u3002',
            contactName: '\u60a8\u7684\u79f0\u547c',
            contactEmail: '\u90ae\u7bb1',
            contactPhone: '\u624b\u673a\u53f7',
            contactSend: '\u63d0\u4ea4',
            contactSkip: '\u8df3\u8fc7',
            contactNeed: '\u8bf7\u586b\u5199\u79f0\u547c\uff0c\u4ee5\u53ca\u90ae\u7bb1\u6216\u624b\u673a\u53f7\u3002',
            contactBad: '\u8bf7\u68c0\u67e5\u90ae\u7bb1\u548c\u624b\u673a\u53f7\u662f\u5426\u6b63\u786e\u3002',
            contactThanks: '\u8c22\u8c22\uff0c\u6211\u4eec\u4f1a\u5c3d\u5feb\u8054\u7cfb\u60a8\u3002',
            erased: '\u6b64\u5bf9\u8bdd\u53ca\u60a8\u7684\u6240\u6709\u8d44\u6599\u5df2\u88ab\u5546\u5bb6\u5220\u9664\u3002',
            refused: '\u5ba2\u670d\u6682\u65f6\u65e0\u6cd5\u8fde\u63a5\uff1a\u670d\u52a1\u5668\u62d2\u7edd\u4e86\u672c\u9875\u9762\u7684\u8eab\u4efd\u9a8c\u8bc1\uff08{reason}\uff09\u3002',
            unreadTitle: '({n}) \u6761\u65b0\u6d88\u606f',
            unavailable: '\u6682\u4e0d\u53ef\u7528',
            botName: '\u667a\u80fd\u52a9\u624b',
            botTag: '\u673a\u5668\u4eba',
            botSub: '\u667a\u80fd\u52a9\u624b\u6b63\u5728\u4e3a\u60a8\u89e3\u7b54',
            botBanner: '\u667a\u80fd\u52a9\u624b\u6b63\u5728\u4e3a\u60a8\u89e3\u7b54\uff0c\u968f\u65f6\u53ef\u4ee5\u4e00\u952e\u8f6c\u4eba\u5de5\u3002',
            handoff: '\u8f6c\u4eba\u5de5',
            handedOff: '\u6b63\u5728\u4e3a\u60a8\u8f6c\u63a5\u4eba\u5de5\u5ba2\u670d\u2026',
            quick: '\u5feb\u6377\u56de\u590d'
        }
    };

    var EVENTS = {
        en: {
            'order.paid': 'Order paid', 'order.created': 'Order placed',
            'order.shipped': 'Order shipped', 'order.refunded': 'Refund issued'
        },
        zh: {
            'order.paid': '\u8ba2\u5355\u5df2\u652f\u4ed8', 'order.created': '\u5df2\u4e0b\u5355',
            'order.shipped': '\u8ba2\u5355\u5df2\u53d1\u8d27', 'order.refunded': '\u5df2\u9000\u6b3e'
        }
    };

    function pickLang(l) {
        l = String(l || '').toLowerCase();
        return l.indexOf('zh') === 0 ? 'zh' : 'en';
    }

    var opts = {
        site: ds.site || 'demo',
        ws: ds.ws || (base.replace(/^http/, 'ws').replace(/\/[^/]*\/?$/, '') + '/chat'),
        token: ds.token || '',
        name: ds.name || '',
        group: ds.group || '',
        attrs: null,
        lang: pickLang(ds.lang || navigator.language ||
                       (navigator.languages && navigator.languages[0])),
        title: ds.title || '',
        greeting: ds.greeting || '',
        color: ds.color || '',
        mode: ds.mode === 'page' ? 'page' : 'launcher',
        open: ds.open === 'true' || ds.open === ''
    };
    try {
        opts.attrs = ds.attrs ? JSON.parse(ds.attrs) : null;
    } catch (e) {
        opts.attrs = null;
    }
    /*
     * The standalone page passes its options in the query string or in the
     * fragment (#token=... never reaches a server).  A token is taken out
     * of the address at once, before anything reads or reports it (the
     * page trail, the console, the API, logs, Referer headers); the tab
     * keeps it for its reloads in sessionStorage.
     */
    if (ds.query !== undefined) {
        [location.search, location.hash.slice(1)].forEach(function (q) {
            new URLSearchParams(q).forEach(function (v, k) {
                if (k === 'attrs') {
                    try { opts.attrs = JSON.parse(v); } catch (e) { /* ignored */ }
                } else if (k === 'lang') {
                    opts.lang = pickLang(v);
                } else if (k in opts && typeof opts[k] === 'string') {
                    opts[k] = v;
                }
            });
        });
        var tokenKey = 'kefu.' + opts.site + '.pageToken';
        try {
            if (opts.token) {
                sessionStorage.setItem(tokenKey, opts.token);
            } else {
                opts.token = sessionStorage.getItem(tokenKey) || '';
            }
        } catch (e) { /* storage off: the address's token, this load only */ }
        stripToken();
    }

    function stripToken() {
        var u, h, changed = false;
        try {
            u = new URL(location.href);
        } catch (e) {
            return;
        }
        ['token', 'access_token'].forEach(function (k) {
            if (u.searchParams.has(k)) {
                u.searchParams.delete(k);
                changed = true;
            }
            h = new URLSearchParams(u.hash.slice(1));
            if (h.has(k)) {
                h.delete(k);
                u.hash = h.toString();
                changed = true;
            }
        });
        if (changed) {
            try {
                history.replaceState(history.state, '', u.href);
            } catch (e) { /* a sandboxed frame: nothing better to do */ }
        }
    }

    var T = I18N[opts.lang];
    function t(key, vars) {
        return String(T[key]).replace(/\{(\w+)\}/g, function (_, k) {
            return vars && vars[k] !== undefined ? vars[k] : '';
        });
    }

    /* ---- storage ---- */

    var KEY = 'kefu.' + opts.site + '.';
    function load(k, dflt) {
        try {
            var v = localStorage.getItem(KEY + k);
            return v === null ? dflt : JSON.parse(v);
        } catch (e) {
            return dflt;
        }
    }
    function save(k, v) {
        try {
            if (v === null) {
                localStorage.removeItem(KEY + k);
            } else {
                localStorage.setItem(KEY + k, JSON.stringify(v));
            }
        } catch (e) { /* private mode: in memory only */ }
    }

    /* ---- state ---- */

    var st = {
        ws: null,
        conn: 'connecting',      /* connecting | online | offline */
        me: null,                /* visitor id */
        welcomed: false,
        tries: 0,
        timer: null,
        pingTimer: null,
        pongDue: null,
        convs: {},               /* conv -> {state, agent, position, eta, reason, lastSeq, read, peerRead, order} */
        order: 0,
        current: null,           /* the conversation shown at the bottom */
        entries: {},             /* key -> entry */
        outbox: load('outbox', []),   /* [{cid, text, ts}] not acknowledged */
        rated: load('rated', {}),
        open: false,
        typingSent: 0,
        typingOff: null,
        peerTyping: null,
        peerTypingTimer: null,
        historyMore: {},
        historyBefore: {},
        lastPage: location.href,
        avail: null,             /* {open, online, welcome, offline} */
        settings: null,          /* the site's widget, contact, groups */
        refusal: '',             /* the last "unauthorized" message */
        refused: '',             /* set: the token was refused, no retry */
        erased: false,           /* the shop erased this visitor (4403) */
        anonRetried: false,
        contactAsked: load('contactAsked', false),
        contactNote: '',
        usedButtons: {},         /* entry key -> true: its buttons were used */
        baseTitle: null,
        lastPing: 0
    };

    /* bidirectional overrides in a name could reorder what is around it */
    function clean(s) {
        return String(s || '').replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
    }

    function cidgen() {
        var a = new Uint8Array(9), s = 'w';
        crypto.getRandomValues(a);
        for (var i = 0; i < a.length; i++) {
            s += (a[i] % 36).toString(36);
        }
        return s + Date.now().toString(36);
    }

    function conv(id) {
        if (!st.convs[id]) {
            st.convs[id] = { state: 'queued', agent: null, lastSeq: 0, read: 0,
                             peerRead: 0, order: ++st.order };
        }
        return st.convs[id];
    }

    /* ---- DOM ---- */

    var host = document.createElement('div');
    host.id = 'kefu-widget';
    host.setAttribute('data-mode', opts.mode);
    host.style.cssText = 'all:initial;visibility:hidden';
    var root = host.attachShadow({ mode: 'open' });

    function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined) { e.textContent = text; }   /* text, never HTML */
        return e;
    }
    function svg(path, size) {
        var ns = 'http://www.w3.org/2000/svg';
        var s = document.createElementNS(ns, 'svg');
        s.setAttribute('viewBox', '0 0 24 24');
        s.setAttribute('width', size || 24);
        s.setAttribute('height', size || 24);
        s.setAttribute('aria-hidden', 'true');
        var p = document.createElementNS(ns, 'path');
        p.setAttribute('d', path);
        s.appendChild(p);
        return s;
    }
    var ICON = {
        chat: 'M12 3C6.5 3 2 6.9 2 11.7c0 2.6 1.3 4.9 3.4 6.5L4.6 22l4.3-2.3c1 .3 2 .4 3.1.4 5.5 0 10-3.9 10-8.7S17.5 3 12 3zm-4.5 10a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6zm4.5 0a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6zm4.5 0a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6z',
        close: 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z',
        down: 'M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z',
        send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10.1 15 12 3.4 13.9z',
        star: 'M12 17.3 18.2 21l-1.6-7L22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2 7.4 14l-1.6 7z'
    };

    var css = el('link');
    css.rel = 'stylesheet';
    css.href = base + 'widget.css';
    css.onload = function () { host.style.visibility = 'visible'; };
    root.appendChild(css);

    var wrap = el('div', 'kf');
    wrap.setAttribute('lang', opts.lang === 'zh' ? 'zh-CN' : 'en');
    if (opts.color) {
        wrap.style.setProperty('--kf-accent', opts.color);
    }
    root.appendChild(wrap);

    var launcher = el('button', 'kf-launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-label', t('launcher'));
    launcher.setAttribute('aria-expanded', 'false');
    launcher.appendChild(svg(ICON.chat, 28));
    var launcherX = svg(ICON.down, 28);
    launcherX.setAttribute('class', 'kf-x');
    launcher.appendChild(launcherX);
    var badge = el('span', 'kf-badge');
    badge.hidden = true;
    launcher.appendChild(badge);

    var panel = el('section', 'kf-panel');
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', opts.title || t('title'));
    panel.setAttribute('dir', 'ltr');

    var head = el('header', 'kf-head');
    var avatar = el('div', 'kf-avatar');
    avatar.appendChild(svg(ICON.chat, 22));
    var headText = el('div', 'kf-head-text');
    var headTitle = el('div', 'kf-head-title', opts.title || t('title'));
    var headSub = el('div', 'kf-head-sub');
    var headDot = el('span', 'kf-dot');
    var headSubText = el('span', '', t('connecting'));
    headSub.appendChild(headDot);
    headSub.appendChild(headSubText);
    headText.appendChild(headTitle);
    headText.appendChild(headSub);
    var closeBtn = el('button', 'kf-close');
    closeBtn.type = 'button';
    closeBtn.setAttribute('aria-label', t('close'));
    closeBtn.appendChild(svg(ICON.down, 24));
    head.appendChild(avatar);
    head.appendChild(headText);
    head.appendChild(closeBtn);

    var banner = el('div', 'kf-banner');
    banner.setAttribute('role', 'status');
    banner.hidden = true;

    var scroller = el('div', 'kf-scroll');
    var earlier = el('button', 'kf-earlier', t('earlier'));
    earlier.type = 'button';
    earlier.hidden = true;
    var greet = el('div', 'kf-greet');
    greet.appendChild(el('div', 'kf-greet-text', opts.greeting || t('greeting')));
    var list = el('ol', 'kf-list');
    list.setAttribute('aria-live', 'polite');
    list.setAttribute('aria-relevant', 'additions');
    var typingRow = el('div', 'kf-typing');
    typingRow.hidden = true;
    var typingDots = el('span', 'kf-dots');
    typingDots.appendChild(el('i'));
    typingDots.appendChild(el('i'));
    typingDots.appendChild(el('i'));
    var typingText = el('span', 'kf-typing-text');
    typingRow.appendChild(typingDots);
    typingRow.appendChild(typingText);
    var quick = el('div', 'kf-quick');          /* the latest message's buttons */
    quick.setAttribute('role', 'group');
    quick.setAttribute('aria-label', t('quick'));
    quick.hidden = true;
    var extra = el('div', 'kf-extra');          /* rating card */
    var contactBox = el('div', 'kf-contact-box');   /* contact details */
    scroller.appendChild(earlier);
    scroller.appendChild(greet);
    scroller.appendChild(list);
    scroller.appendChild(quick);
    scroller.appendChild(contactBox);
    scroller.appendChild(extra);
    scroller.appendChild(typingRow);

    var form = el('form', 'kf-compose');
    var input = el('textarea', 'kf-input');
    input.rows = 1;
    input.placeholder = t('placeholder');
    input.setAttribute('aria-label', t('placeholder'));
    input.maxLength = 4000;
    var sendBtn = el('button', 'kf-send');
    sendBtn.type = 'submit';
    sendBtn.setAttribute('aria-label', t('send'));
    sendBtn.appendChild(svg(ICON.send, 22));
    form.appendChild(input);
    form.appendChild(sendBtn);

    var foot = el('div', 'kf-foot', t('powered'));

    panel.appendChild(head);
    panel.appendChild(banner);
    panel.appendChild(scroller);
    panel.appendChild(form);
    panel.appendChild(foot);
    wrap.appendChild(panel);
    if (opts.mode === 'launcher') {
        wrap.appendChild(launcher);
    } else {
        wrap.classList.add('kf-page');
        st.open = true;
    }

    /* ---- rendering ---- */

    function fmtTime(ts) {
        var d = new Date(ts || Date.now());
        var h = d.getHours(), m = d.getMinutes();
        return (h < 10 ? '0' : '') + h + ':' + (m < 10 ? '0' : '') + m;
    }

    function agentName(a) {
        if (!a) { return ''; }
        if (typeof a === 'string') { return clean(a); }
        return clean(a.name || a.id || '');
    }

    function botName() {
        var b = st.settings && st.settings.bot;
        var n = b && b.name;
        if (n && typeof n === 'object') { n = n[opts.lang] || n.en || n.zh; }
        return clean(n || '') || t('botName');
    }

    function siteTitle() {
        var w = st.settings && st.settings.widget;
        var tt = w && w.title && (w.title[opts.lang] || w.title.en || w.title.zh);
        return opts.title || tt || t('title');
    }

    /* nobody can answer now: outside hours, or nobody of the group online */
    function away() {
        return !!(st.avail && (!st.avail.open || !st.avail.online));
    }

    /* http(s) URLs become links; everything else stays text */
    function linkify(node, text) {
        var re = /\bhttps?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/gi, last = 0, m;
        text = String(text || '');
        while ((m = re.exec(text))) {
            var url = m[0].replace(/[.,;:!?)\]}]+$/, '');
            if (m.index > last) {
                node.appendChild(document.createTextNode(text.slice(last, m.index)));
            }
            var a = el('a', '', url);
            a.href = url;
            a.target = '_blank';
            a.rel = 'noopener noreferrer';
            node.appendChild(a);
            last = m.index + url.length;
            re.lastIndex = last;
        }
        if (last < text.length) {
            node.appendChild(document.createTextNode(text.slice(last)));
        }
        return node;
    }

    function isMine(e) {
        return e.from && e.from.role === 'visitor';
    }

    function entryKey(e) {
        return e.seq ? e.conv + ':' + e.seq : 'c:' + e.cid;
    }

    function sortKey(e) {
        var c = e.conv ? conv(e.conv).order : 1e9;
        /* pending messages go last, in the order they were typed */
        return [e.seq ? c : 1e9, e.seq || 0, e.ts || 0];
    }

    function cmp(a, b) {
        var x = sortKey(a), y = sortKey(b);
        for (var i = 0; i < 3; i++) {
            if (x[i] !== y[i]) { return x[i] - y[i]; }
        }
        return 0;
    }

    function statusOf(e) {
        if (e.failed) { return 'failed'; }
        if (!e.seq) { return 'sending'; }
        var c = st.convs[e.conv];
        if (c && c.peerRead >= e.seq) { return 'read'; }
        return 'sent';
    }

    function systemText(e) {
        var who = agentName(e.agent) || t('someone');
        if (e.event === 'accepted' || e.event === 'assigned') {
            return t('joined', { name: who });
        }
        if (e.event === 'transferred') {
            return t('transferred', { name: who });
        }
        if (e.event === 'closed') {
            return t('closedNote');
        }
        if (e.event === 'requeued') {
            return t('requeued');
        }
        if (e.event === 'joined') {
            return t('joined', { name: who });
        }
        if (e.event === 'handoff') {
            return t('handedOff');
        }
        return e.text || '';
    }

    function buildNode(e) {
        var li;
        if (e.kind === 'system') {
            li = el('li', 'kf-sys');
            li.appendChild(el('span', '', systemText(e)));
            return li;
        }
        if (e.kind === 'event') {
            li = el('li', 'kf-event');
            var card = el('div', 'kf-card');
            card.appendChild(el('div', 'kf-card-title',
                                (EVENTS[opts.lang][e.name]) || e.name || t('event')));
            var d = e.data;
            if (d && typeof d === 'object') {
                Object.keys(d).slice(0, 6).forEach(function (k) {
                    var v = d[k];
                    if (v === null || typeof v === 'object') { return; }
                    var row = el('div', 'kf-card-row');
                    row.appendChild(el('span', 'kf-card-k', k));
                    row.appendChild(el('span', 'kf-card-v', String(v)));
                    card.appendChild(row);
                });
            }
            li.appendChild(card);
            li.appendChild(el('div', 'kf-meta', fmtTime(e.ts)));
            return li;
        }
        var mine = isMine(e);
        li = el('li', 'kf-msg ' + (mine ? 'kf-mine' : 'kf-theirs'));
        if (e.event === 'greeting') { li.classList.add('kf-greeting'); }
        if (!mine && e.from && e.from.role === 'bot' && e.event !== 'greeting') {
            /* the bot says it is one: its name and a tag */
            li.classList.add('kf-bot');
            var who = el('div', 'kf-who', clean(e.from.name) || botName());
            who.appendChild(el('span', 'kf-bot-tag', t('botTag')));
            li.appendChild(who);
        } else if (!mine) {
            li.appendChild(el('div', 'kf-who',
                              e.event === 'greeting' ? siteTitle() :
                              clean(e.from && e.from.name) ||
                              agentName(st.convs[e.conv] && st.convs[e.conv].agent) ||
                              t('someone')));
        }
        if (e.attachment) { li.appendChild(attachNode(e)); }
        if (e.text || !e.attachment) { li.appendChild(linkify(el('div', 'kf-bubble'), e.text)); }
        var meta = el('div', 'kf-meta');
        meta.appendChild(el('span', 'kf-time', fmtTime(e.ts)));
        if (mine) {
            meta.appendChild(el('span', 'kf-status'));
        }
        li.appendChild(meta);
        return li;
    }

    function updateNode(e) {
        var n = e.node;
        n.setAttribute('data-key', entryKey(e));
        if (e.seq) { n.setAttribute('data-seq', e.seq); }
        if (e.conv) { n.setAttribute('data-conv', e.conv); }
        if (e.kind === 'msg' && isMine(e)) {
            var s = statusOf(e);
            n.setAttribute('data-status', s);
            var sp = n.querySelector('.kf-status');
            sp.textContent = s === 'read' ? '\u2713\u2713 ' + t('read')
                : s === 'sent' ? '\u2713 ' + t('sent')
                : s === 'failed' ? '! ' + t('failed')
                : (st.conn === 'online' ? '\u2026 ' + t('sending') : '\u2026 ' + t('queuedMsg'));
            n.querySelector('.kf-time').textContent = fmtTime(e.ts);
        }
    }

    var renderQueued = false;
    function render() {
        if (renderQueued) { return; }
        renderQueued = true;
        (window.requestAnimationFrame || setTimeout)(doRender);
    }

    function doRender() {
        renderQueued = false;
        var atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
        var all = Object.keys(st.entries).map(function (k) { return st.entries[k]; });
        all.sort(cmp);
        var prev = null, child = list.firstChild;
        all.forEach(function (e) {
            if (!e.node) { e.node = buildNode(e); }
            updateNode(e);
            var grouped = prev && prev.kind === 'msg' && e.kind === 'msg' &&
                          isMine(prev) === isMine(e) && prev.conv === e.conv &&
                          (e.ts || 0) - (prev.ts || 0) < 120000;
            e.node.classList.toggle('kf-cont', !!grouped);
            if (e.node !== child) {
                list.insertBefore(e.node, child);
            } else {
                child = child.nextSibling;
            }
            prev = e;
        });
        while (child) {
            var next = child.nextSibling;
            list.removeChild(child);
            child = next;
        }
        renderHeader();
        renderIntro();
        renderQuick();
        renderExtra();
        renderBadge();
        earlier.hidden = !(st.current && st.historyMore[st.current]);
        if (atBottom || st.stick) {
            scroller.scrollTop = scroller.scrollHeight;
            st.stick = false;
        }
        markRead();
    }

    function renderHeader() {
        var c = st.current && st.convs[st.current];
        var name = c && c.state !== 'closed' ? agentName(c.agent) : '';
        wrap.setAttribute('data-conn', st.conn);
        wrap.setAttribute('data-conv-state', c ? c.state : 'none');
        panel.setAttribute('data-conv', st.current || '');
        if (name) {
            headTitle.textContent = name;
            avatar.textContent = '';
            avatar.appendChild(el('span', 'kf-initial', name.slice(0, 1).toUpperCase()));
            avatar.classList.add('kf-agent');
        } else {
            headTitle.textContent = siteTitle();
            if (avatar.classList.contains('kf-agent')) {
                avatar.textContent = '';
                avatar.appendChild(svg(ICON.chat, 22));
                avatar.classList.remove('kf-agent');
            }
        }
        var sub, cls;
        if (st.refused) {
            sub = t('unavailable');
            cls = 'away';
        } else if (st.conn !== 'online') {
            sub = st.conn === 'offline' ? t('offline') : t('connecting');
            cls = 'off';
        } else if (name) {
            sub = t('agentOnline');
            cls = 'on';
        } else if (c && c.state === 'bot') {
            sub = t('botSub');
            cls = 'on';
        } else if (away()) {
            /* the truth: no green dot, no promise of a quick answer */
            sub = st.avail.open ? t('awaySub') : t('closedHours');
            cls = 'away';
        } else {
            sub = t('online');
            cls = 'on';
        }
        headSubText.textContent = sub;
        headDot.className = 'kf-dot kf-' + cls;

        /* queue, leave-a-message */
        var text = '', kind = '', hint = '';
        if (st.refused) {
            text = st.erased ? t('erased') : t('refused', { reason: st.refused });
            kind = 'error';
        } else if (c && c.state === 'bot') {
            text = t('botBanner');
            kind = 'bot';
        } else if (c && c.state === 'queued') {
            if (c.offline || away() || c.reason === 'offline' ||
                c.reason === 'no_agents')
            {
                text = (st.avail && st.avail.offline) || t('leave');
                kind = 'leave';
            } else if (typeof c.position === 'number' && c.position > 0) {
                text = t('position', { n: c.position });
                if (typeof c.eta === 'number') {
                    text += ' \u00b7 ' + (c.eta < 60 ? t('etaSoon')
                                     : t('eta', { m: Math.round(c.eta / 60) }));
                } else {
                    /* no estimate: nobody may be answering soon */
                    hint = t('leaveHint');
                }
                kind = 'queue';
            } else {
                text = t('waiting');
                kind = 'wait';
            }
        }
        banner.hidden = !text;
        if (banner.getAttribute('data-kind') === kind && kind === 'bot' &&
            banner.firstChild && banner.firstChild.textContent === text)
        {
            /* unchanged: keep the button (and its focus) */
            return;
        }
        banner.textContent = text;
        if (hint) {
            banner.appendChild(el('div', 'kf-banner-hint', hint));
        }
        if (kind === 'bot') {
            /* a person is always one click away */
            var hb = el('button', 'kf-handoff', t('handoff'));
            hb.type = 'button';
            hb.onclick = function () { handoff(); };
            banner.appendChild(hb);
        }
        banner.setAttribute('data-kind', kind);
        if (c && typeof c.position === 'number') {
            banner.setAttribute('data-position', c.position);
        } else {
            banner.removeAttribute('data-position');
        }
    }

    function renderIntro() {
        var a = st.avail;
        var text = (a && away() ? a.offline : a && a.welcome) ||
                   opts.greeting || t('greeting');
        var gt = greet.firstChild;
        if (gt.textContent !== text) { gt.textContent = text; }
        greet.setAttribute('data-kind', away() ? 'away' : 'welcome');
        var c = st.current && st.convs[st.current];
        var hasGreeting = Object.keys(st.entries).some(function (k) {
            var e = st.entries[k];
            return e.event === 'greeting' && e.conv === st.current;
        });
        greet.hidden = st.erased || hasGreeting ||
                       !!(c && c.state !== 'closed' && away() && c.state === 'queued');
        /* erased: nothing typed here could be sent or kept */
        input.disabled = st.erased;
        sendBtn.disabled = st.erased;
        var w = st.settings && st.settings.widget;
        if (!opts.color && w && w.color) {
            wrap.style.setProperty('--kf-accent', w.color);
        }
        var open = c && c.state !== 'closed';
        wrap.classList.toggle('kf-launcher-hidden',
            !!(w && w.hide_outside_hours && st.avail && !st.avail.open &&
               !open && !st.open && !unreadCount()));
        renderContact();
    }

    function renderContact() {
        var c = st.current && st.convs[st.current];
        var ask = st.settings && st.settings.contact;
        var want = st.contactNote ? 'done'
            : c && c.state === 'queued' && (c.offline || away()) &&
              (!ask || ask.ask !== false) && !st.contactAsked ? 'ask' : '';
        if (contactBox.getAttribute('data-show') === want) { return; }
        contactBox.setAttribute('data-show', want);
        contactBox.textContent = '';
        if (want === 'done') {
            contactBox.appendChild(el('div', 'kf-contact-done', st.contactNote));
            return;
        }
        if (!want) { return; }
        var required = !!(ask && ask.required);
        var card = el('form', 'kf-contact');
        card.appendChild(el('div', 'kf-contact-title', t('contactTitle')));
        var name = el('input'), email = el('input'), phone = el('input');
        name.name = 'name'; name.placeholder = t('contactName'); name.maxLength = 128;
        name.autocomplete = 'name';
        email.name = 'email'; email.type = 'email'; email.placeholder = t('contactEmail');
        email.maxLength = 254; email.autocomplete = 'email';
        phone.name = 'phone'; phone.type = 'tel'; phone.placeholder = t('contactPhone');
        phone.maxLength = 32; phone.autocomplete = 'tel';
        [name, email, phone].forEach(function (i) {
            i.setAttribute('aria-label', i.placeholder);
            card.appendChild(i);
        });
        var err = el('div', 'kf-contact-err');
        err.setAttribute('role', 'alert');
        var row = el('div', 'kf-contact-row');
        var ok = el('button', 'kf-contact-send', t('contactSend'));
        ok.type = 'submit';
        row.appendChild(ok);
        if (!required) {
            var skip = el('button', 'kf-contact-skip', t('contactSkip'));
            skip.type = 'button';
            skip.onclick = function () {
                st.contactAsked = true;
                save('contactAsked', true);
                render();
            };
            row.appendChild(skip);
        }
        card.appendChild(err);
        card.appendChild(row);
        card.addEventListener('submit', function (ev) {
            ev.preventDefault();
            var m = { type: 'contact', cid: cidgen() };
            var n = name.value.trim(), e = email.value.trim(), p = phone.value.trim();
            if (n) { m.name = n; }
            if (e) { m.email = e; }
            if (p) { m.phone = p; }
            if ((required && (!n || (!e && !p))) || (!n && !e && !p)) {
                err.textContent = t('contactNeed');
                return;
            }
            if ((e && !/^[^@\s]+@[^@\s]+$/.test(e)) || (p && !/^[0-9 +()\-]+$/.test(p))) {
                err.textContent = t('contactBad');
                return;
            }
            send(m);
        });
        contactBox.appendChild(card);
        st.stick = true;
    }

    /*
     * Quick replies: the buttons of the latest message of the conversation
     * shown, if a bot or an agent sent it and the visitor has not written
     * since (a click, or typing instead, puts them away).  The handoff
     * button asks for a person (`handoff`), the others send their value.
     */
    function latestWithButtons() {
        var c = st.current && st.convs[st.current];
        if (!c || c.state === 'closed') { return null; }
        var last = null, pending = false;
        Object.keys(st.entries).forEach(function (k) {
            var e = st.entries[k];
            if (!e.seq) { if (e.kind === 'msg') { pending = true; } return; }
            if (e.conv !== st.current || e.kind !== 'msg') { return; }
            if (!last || e.seq > last.seq) { last = e; }
        });
        if (pending || !last || isMine(last) || !last.buttons || !last.buttons.length ||
            st.usedButtons[entryKey(last)])
        {
            return null;
        }
        return last;
    }

    function renderQuick() {
        var e = latestWithButtons();
        var c = e && st.convs[e.conv];
        var bs = e ? e.buttons.filter(function (b) {
            return b && typeof b.text === 'string' && b.text &&
                   (b.value !== '__handoff__' || c.state === 'bot');
        }) : [];
        var key = e && bs.length ? entryKey(e) + ':' + c.state : '';
        if (quick.getAttribute('data-for') === key) { return; }
        quick.setAttribute('data-for', key);
        quick.textContent = '';
        quick.hidden = !key;
        if (!key) { return; }
        bs.forEach(function (b) {
            var n = el('button', 'kf-qr', clean(b.text));
            n.type = 'button';
            if (b.value === '__handoff__') {
                n.classList.add('kf-qr-handoff');
                n.setAttribute('data-handoff', '1');
            }
            n.onclick = function () {
                st.usedButtons[entryKey(e)] = true;
                if (b.value === '__handoff__') {
                    handoff();
                } else {
                    sendText(typeof b.value === 'string' && b.value ? b.value : b.text);
                }
                render();
                input.focus();
            };
            quick.appendChild(n);
        });
        st.stick = true;
    }

    /* the visitor asks for a person: the conversation leaves the bot */
    function handoff() {
        var c = st.current && st.convs[st.current];
        if (!c) { return; }
        Object.keys(st.entries).forEach(function (k) {
            var e = st.entries[k];
            if (e.conv === st.current && e.buttons) { st.usedButtons[entryKey(e)] = true; }
        });
        send({ type: 'handoff', conv: st.current });
        render();
    }

    function renderExtra() {
        var c = st.current && st.convs[st.current];
        /* the rating card is for a close this browser saw happen (kept
           across a refresh), not for every old conversation */
        /* the latest conversation, closed (also while this browser was
           away: it is read on return) and not rated here yet */
        var want = !c || c.state !== 'closed' ? ''
            : st.rated[st.current] ? 'thanks' : 'rate';
        if (extra.getAttribute('data-show') === want + ':' + st.current) { return; }
        extra.setAttribute('data-show', want + ':' + st.current);
        extra.textContent = '';
        if (!want) { return; }
        var card = el('div', 'kf-rate');
        if (want === 'thanks') {
            card.appendChild(el('div', 'kf-rate-title', t('rateThanks')));
            card.appendChild(el('div', 'kf-rate-sub', t('newConv')));
            extra.appendChild(card);
            return;
        }
        var convId = st.current, score = 0;
        card.appendChild(el('div', 'kf-rate-title', t('rateAsk')));
        var stars = el('div', 'kf-stars');
        stars.setAttribute('role', 'radiogroup');
        stars.setAttribute('aria-label', t('rateAsk'));
        var btns = [];
        for (var i = 1; i <= 5; i++) {
            (function (n) {
                var b = el('button', 'kf-star');
                b.type = 'button';
                b.setAttribute('role', 'radio');
                b.setAttribute('aria-checked', 'false');
                b.setAttribute('aria-label', t('star', { n: n }));
                b.setAttribute('data-score', n);
                b.appendChild(svg(ICON.star, 28));
                b.onclick = function () {
                    score = n;
                    btns.forEach(function (x, j) {
                        x.classList.toggle('kf-on', j < n);
                        x.setAttribute('aria-checked', j === n - 1 ? 'true' : 'false');
                    });
                    submit.disabled = false;
                };
                btns.push(b);
                stars.appendChild(b);
            })(i);
        }
        var comment = el('textarea', 'kf-rate-comment');
        comment.rows = 2;
        comment.placeholder = t('rateComment');
        comment.setAttribute('aria-label', t('rateComment'));
        comment.maxLength = 1000;
        var submit = el('button', 'kf-rate-send', t('rateSend'));
        submit.type = 'button';
        submit.disabled = true;
        submit.onclick = function () {
            var m = { type: 'rate', conv: convId, score: score };
            if (comment.value.trim()) { m.comment = comment.value.trim(); }
            if (send(m)) {
                st.rated[convId] = score;
                save('rated', st.rated);
                save('askRate', null);
                render();
            }
        };
        card.appendChild(stars);
        card.appendChild(comment);
        card.appendChild(submit);
        card.appendChild(el('div', 'kf-rate-sub', t('newConv')));
        extra.appendChild(card);
        st.stick = true;
    }

    function unreadCount() {
        var n = 0;
        Object.keys(st.entries).forEach(function (k) {
            var e = st.entries[k];
            var c = e.conv && st.convs[e.conv];
            if (e.seq && c && !isMine(e) && e.seq > c.read) { n++; }
        });
        Object.keys(st.convs).forEach(function (id) {
            if (st.convs[id].unreadHint) { n += st.convs[id].unreadHint; }
        });
        return n;
    }

    function renderBadge() {
        var all = unreadCount();
        var n = st.open ? 0 : all;
        badge.hidden = n === 0;
        badge.textContent = n > 99 ? '99+' : String(n);
        launcher.setAttribute('aria-label', t('launcher') + (n ? ' (' + n + ')' : ''));
        /* the page's title shows answers that wait, until they are seen */
        var waiting = st.open && document.visibilityState !== 'hidden' ? 0 : all;
        if (waiting) {
            if (st.baseTitle === null) { st.baseTitle = document.title; }
            var tt = t('unreadTitle', { n: waiting > 99 ? '99+' : waiting }) + ' \u00b7 ' + st.baseTitle;
            if (document.title !== tt) { document.title = tt; }
        } else if (st.baseTitle !== null) {
            document.title = st.baseTitle;
            st.baseTitle = null;
        }
    }

    function renderTyping() {
        var p = st.peerTyping;
        typingRow.hidden = !p;
        if (p) {
            typingText.textContent = t('typing', { name: p.name || t('someone') });
            if (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 90) {
                scroller.scrollTop = scroller.scrollHeight;
            }
        }
    }

    /* ---- the log ---- */

    function addEntry(m) {
        var e = {
            conv: m.conv, seq: m.seq, id: m.id, ts: m.ts, from: m.from || {},
            text: m.text, cid: m.cid, agent: m.agent, event: m.event,
            name: m.name, data: m.data, attachment: m.attachment,
            buttons: Array.isArray(m.buttons) ? m.buttons.slice(0, 10) : null,
            faq: m.faq, rule: m.rule
        };
        e.kind = m.type === 'event' ? 'event'
            : (e.from.role === 'system' && e.event !== 'greeting' ? 'system' : 'msg');
        if (!e.conv || !e.seq) { return; }
        var c = conv(e.conv);
        var key = entryKey(e);
        if (st.entries[key]) { return; }           /* exactly once */
        /* our own message from another tab, or replayed: the pending copy
           with its cid becomes the stored one */
        if (e.cid && isMine(e) && st.entries['c:' + e.cid]) {
            var p = st.entries['c:' + e.cid];
            delete st.entries['c:' + e.cid];
            e.node = p.node;
            dropOutbox(e.cid);
        }
        st.entries[key] = e;
        if (e.seq > c.lastSeq) { c.lastSeq = e.seq; }
        if (e.kind === 'system' && e.agent && typeof e.agent === 'object' &&
            (e.event === 'accepted' || e.event === 'assigned' || e.event === 'transferred'))
        {
            if (!c.agentSeq || c.agentSeq < e.seq) {
                c.agent = e.agent;
                c.agentSeq = e.seq;
            }
        }
        if (!isMine(e) && e.from.role !== 'system' && st.peerTyping &&
            st.peerTyping.conv === e.conv)
        {
            st.peerTyping = null;
            renderTyping();
        }
        if (!st.current || c.order >= conv(st.current).order) {
            st.current = e.conv;
        }
        render();
    }

    /* a conversation that becomes active goes to the bottom of the view */
    function focusConv(id) {
        var c = conv(id);
        if (st.current === id) { return; }
        if (st.current && c.order < conv(st.current).order) { c.order = ++st.order; }
        st.current = id;
    }

    function dropOutbox(cid) {
        var before = st.outbox.length;
        st.outbox = st.outbox.filter(function (o) { return o.cid !== cid; });
        if (st.outbox.length !== before) { save('outbox', st.outbox); }
    }

    function markRead() {
        if (!st.open || document.visibilityState === 'hidden' || st.conn !== 'online') {
            return;
        }
        Object.keys(st.convs).forEach(function (id) {
            var c = st.convs[id], max = 0;
            Object.keys(st.entries).forEach(function (k) {
                var e = st.entries[k];
                if (e.conv === id && e.seq && !isMine(e) && e.seq > max) { max = e.seq; }
            });
            c.unreadHint = 0;
            if (max > c.read) {
                c.read = max;
                send({ type: 'read', conv: id, seq: max });
                renderBadge();
            }
        });
    }

    /* ---- the connection ---- */

    function send(m) {
        if (st.ws && st.ws.readyState === 1 && st.welcomed) {
            st.ws.send(JSON.stringify(m));
            return true;
        }
        return false;
    }

    function setConn(s) {
        st.conn = s;
        render();
    }

    function connect() {
        clearTimeout(st.timer);
        if (st.ws) { return; }
        var ws;
        try {
            ws = new WebSocket(opts.ws);
        } catch (e) {
            scheduleReconnect();
            return;
        }
        st.ws = ws;
        st.welcomed = false;
        if (st.conn !== 'offline') { setConn('connecting'); }
        ws.onopen = function () {
            var hello = { type: 'hello', role: 'visitor', site: opts.site };
            var tok = opts.token || load('token', '');
            if (tok) { hello.token = tok; }
            if (opts.name) { hello.name = opts.name; }
            if (opts.attrs) { hello.attrs = opts.attrs; }
            if (opts.group) { hello.group = opts.group; }
            hello.lang = opts.lang;
            hello.page = { url: location.href, title: document.title,
                           referrer: document.referrer };
            var resume = {}, any = false;
            Object.keys(st.convs).forEach(function (id) {
                if (st.convs[id].lastSeq > 0) {
                    resume[id] = st.convs[id].lastSeq;
                    any = true;
                }
            });
            if (any) { hello.resume = resume; }
            ws.send(JSON.stringify(hello));
        };
        ws.onmessage = function (ev) {
            var m;
            try { m = JSON.parse(ev.data); } catch (e) { return; }
            if (m && typeof m.type === 'string') { onMessage(m); }
        };
        ws.onclose = function (ev) {
            if (st.ws !== ws) { return; }
            st.ws = null;
            st.welcomed = false;
            clearInterval(st.pingTimer);
            if (ev.code === 4403) {
                /* the shop erased this visitor: nothing of it stays here,
                   not even the outbox, whose resend would store it again */
                forget();
                st.erased = true;
                st.refused = ev.reason || 'visitor erased';
                setConn('offline');
                render();
                return;
            }
            if (ev.code === 4401) {
                var why = st.refusal || ev.reason || 'unauthorized';
                st.refusal = '';
                if (!opts.token && load('token', '') && !st.anonRetried) {
                    /* our anonymous token is no longer good: start afresh */
                    save('token', null);
                    st.anonRetried = true;
                    st.tries = 0;
                } else {
                    /* retrying the same refused token would loop for ever:
                       say why, here and to the shop's developer */
                    st.refused = why;
                    if (window.console && console.error) {
                        console.error('[kefu] the chat server refused this visitor (' + why +
                            '). A visitor token (data-token) must be an HS256 JWT signed with ' +
                            'the site\'s secret with the claims sub, role "visitor", site "' +
                            opts.site + '" and exp (in the future); without a token the site ' +
                            'needs anonymous=on. See docs/widget.md.');
                    }
                    setConn('offline');
                    return;
                }
            }
            setConn('offline');
            scheduleReconnect();
        };
    }

    /* every key of this site in localStorage, and what is on screen */
    function forget() {
        var drop = [], i, k;
        try {
            for (i = 0; i < localStorage.length; i++) {
                k = localStorage.key(i);
                if (k && k.indexOf(KEY) === 0) { drop.push(k); }
            }
            drop.forEach(function (k) { localStorage.removeItem(k); });
        } catch (e) { /* storage off: nothing was kept */ }
        st.outbox = [];
        st.rated = {};
        st.entries = {};
        st.convs = {};
        st.current = null;
        st.contactAsked = false;
    }

    function scheduleReconnect() {
        clearTimeout(st.timer);
        var delay = Math.min(30000, 500 * Math.pow(2, st.tries++));
        delay = delay / 2 + Math.random() * delay / 2;
        st.timer = setTimeout(connect, delay);
    }

    function dropConnection() {
        var ws = st.ws;
        if (ws) {
            ws.onclose = null;
            st.ws = null;
            st.welcomed = false;
            clearInterval(st.pingTimer);
            try { ws.close(); } catch (e) { /* ignored */ }
        }
    }

    /*
     * An application ping every 5 s while the page is seen (every 25 s in
     * a background tab), answered within 5 s or the connection is taken
     * for dead: a frozen server or a silent network is noticed within
     * about 10 s, not only at the server's heartbeat.
     */
    function heartbeat(secs) {
        clearInterval(st.pingTimer);
        st.pongDue = null;
        st.lastPing = Date.now();
        st.pingTimer = setInterval(function () {
            var now = Date.now();
            if (st.pongDue && now > st.pongDue) {
                /* a connection that no longer answers: start a new one */
                dropConnection();
                setConn('offline');
                scheduleReconnect();
                return;
            }
            if (st.pongDue) { return; }
            var every = document.visibilityState === 'hidden'
                ? Math.max(5, Math.min(secs || 25, 25)) * 1000 : 5000;
            if (now - st.lastPing >= every - 500 && send({ type: 'ping', id: 'hb' })) {
                st.lastPing = now;
                st.pongDue = now + 5000;
            }
        }, 1000);
    }

    function flushOutbox() {
        st.outbox.forEach(function (o) {
            send({ type: 'msg', cid: o.cid, text: o.text, attachment: o.attachment });
        });
    }

    function onMessage(m) {
        var c;
        switch (m.type) {
        case 'welcome':
            st.welcomed = true;
            st.tries = 0;
            st.me = m.id;
            st.upload = m.upload || null;
            if (m.token && !opts.token) { save('token', m.token); }
            st.anonRetried = false;
            if (m.availability) { st.avail = m.availability; }
            if (m.settings) { st.settings = m.settings; }
            var fresh = !st.current;
            (m.convs || []).slice().reverse().forEach(function (s) {
                c = conv(s.conv);
                c.state = s.state;
                if (s.agent && (!c.agent || typeof s.agent === 'object')) {
                    c.agent = s.agent;
                }
                if (s.unread && fresh) { c.unreadHint = s.unread; }
                c.serverSeq = s.seq;
                if (typeof s.position === 'number') { c.position = s.position; }
                if (typeof s.eta === 'number') { c.eta = s.eta; }
                if (s.reason) { c.reason = s.reason; }
                if (s.offline) { c.offline = true; }
            });
            if (fresh && m.convs && m.convs.length) {
                /* the newest still open one, else the newest */
                var open = m.convs.filter(function (s) { return s.state !== 'closed'; });
                st.current = (open[0] || m.convs[0]).conv;
                conv(st.current).order = ++st.order;
                send({ type: 'history', conv: st.current, limit: 50 });
            }
            setConn('online');
            heartbeat(m.heartbeat);
            flushOutbox();
            break;
        case 'pong':
            st.pongDue = null;
            break;
        case 'availability':
            st.avail = m;
            if (m.settings) { st.settings = m.settings; }
            render();
            break;
        case 'contact':
            st.contactAsked = true;
            save('contactAsked', true);
            st.contactNote = t('contactThanks');
            render();
            break;
        case 'ack':
            var p = st.entries['c:' + m.cid];
            dropOutbox(m.cid);
            if (p) {
                delete st.entries['c:' + m.cid];
                c = conv(m.conv);
                p.conv = m.conv;
                p.seq = m.seq;
                p.id = m.id;
                p.ts = m.ts;
                /* lastSeq (the resume point) moves only with what the
                   stream delivered: an ack may overtake an entry before it */
                var key = entryKey(p);
                if (!st.entries[key]) {
                    st.entries[key] = p;
                } else if (p.node && p.node.parentNode) {
                    p.node.parentNode.removeChild(p.node);
                }
                focusConv(m.conv);
                render();
            }
            break;
        case 'msg':
        case 'event':
            addEntry(m);
            break;
        case 'history':
            c = conv(m.conv);
            st.historyMore[m.conv] = !!m.more;
            /* where the server stopped looking (many private notes skipped) */
            st.historyBefore[m.conv] = m.before;
            (m.msgs || []).forEach(function (h) {
                if (!h.type) { h.type = h.name && !h.text ? 'event' : 'msg'; }
                h.conv = h.conv || m.conv;
                attachFresh(h);
                addEntry(h);
            });
            if (!c.read) {
                /* what the server counted unread stays unread until seen */
                var others = Object.keys(st.entries).map(function (k) {
                    return st.entries[k];
                }).filter(function (e) {
                    return e.conv === m.conv && e.seq && !isMine(e);
                }).sort(function (x, y) { return x.seq - y.seq; });
                var hint = c.unreadHint || 0;
                c.read = hint === 0 ? c.lastSeq
                    : hint >= others.length ? 0 : others[others.length - hint].seq - 1;
                c.unreadHint = 0;
            }
            st.stick = !st.pagingUp;
            st.pagingUp = false;
            render();
            break;
        case 'conv':
            c = conv(m.conv);
            var was = c.state;
            c.state = m.state;
            if (m.agent !== undefined) { c.agent = m.agent; }
            c.position = m.position;
            c.eta = m.eta;
            c.reason = m.reason;
            /* a place in line comes once someone is there to serve it */
            c.offline = m.state === 'queued' && !!m.offline;
            if (m.state !== 'closed') { focusConv(m.conv); }
            if (m.state === 'closed' && was !== 'closed') {
                st.stick = true;
                if (!st.rated[m.conv]) { save('askRate', m.conv); }
            }
            render();
            break;
        case 'typing':
            if (m.from && m.from.role !== 'visitor') {
                clearTimeout(st.peerTypingTimer);
                if (m.on) {
                    st.peerTyping = { conv: m.conv,
                                      name: m.from.name || agentName(conv(m.conv).agent) };
                    st.peerTypingTimer = setTimeout(function () {
                        st.peerTyping = null;
                        renderTyping();
                    }, 8000);
                } else {
                    st.peerTyping = null;
                }
                renderTyping();
            }
            break;
        case 'read':
            if (m.from && m.from.role !== 'visitor') {
                c = conv(m.conv);
                if (m.seq > c.peerRead) {
                    c.peerRead = m.seq;
                    render();
                }
            }
            break;
        case 'error':
            onError(m);
            break;
        }
    }

    function onError(m) {
        if (m.code === 'unauthorized') { st.refusal = m.message || ''; }
        if (!m.cid) { return; }
        var p = st.entries['c:' + m.cid];
        if (m.code === 'unavailable' || m.code === 'rate_limited') {
            /* not stored: the outbox keeps it, try again shortly */
            setTimeout(function () {
                st.outbox.forEach(function (o) {
                    if (o.cid === m.cid) {
                        send({ type: 'msg', cid: o.cid, text: o.text, attachment: o.attachment });
                    }
                });
            }, 2000 + Math.random() * 2000);
            return;
        }
        dropOutbox(m.cid);
        if (p) {
            p.failed = m.code;
            render();
        }
    }

    /* ---- composing ---- */

    function submitText() {
        var text = input.value.replace(/\s+$/, '').replace(/^\s*\n/, '');
        if (!text.trim()) { return; }
        input.value = '';
        autosize();
        typing(false);
        sendText(text);
    }

    function sendText(text) {
        var o = { cid: cidgen(), text: text, ts: Date.now() };
        st.outbox.push(o);
        save('outbox', st.outbox);
        addPending(o);
        st.stick = true;
        send({ type: 'msg', cid: o.cid, text: o.text });
        render();
    }

    function addPending(o) {
        st.entries['c:' + o.cid] = {
            kind: 'msg', cid: o.cid, text: o.text, ts: o.ts,
            from: { role: 'visitor', id: st.me }, attachment: o.attachment
        };
    }

    function typing(on) {
        var c = st.current && st.convs[st.current];
        clearTimeout(st.typingOff);
        if (!c || c.state === 'closed') { return; }
        if (on) {
            if (Date.now() - st.typingSent > 3000) {
                if (send({ type: 'typing', conv: st.current, on: true })) {
                    st.typingSent = Date.now();
                }
            }
            st.typingOff = setTimeout(function () { typing(false); }, 4000);
        } else if (st.typingSent) {
            st.typingSent = 0;
            send({ type: 'typing', conv: st.current, on: false });
        }
    }

    function autosize() {
        input.style.height = 'auto';
        input.style.height = Math.min(input.scrollHeight, 120) + 'px';
    }

    form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        submitText();
        input.focus();
    });
    input.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
            ev.preventDefault();
            submitText();
        }
    });
    input.addEventListener('input', function () {
        autosize();
        typing(input.value.length > 0);
    });
    earlier.addEventListener('click', function () {
        var min = Infinity;
        Object.keys(st.entries).forEach(function (k) {
            var e = st.entries[k];
            if (e.conv === st.current && e.seq && e.seq < min) { min = e.seq; }
        });
        if (st.historyBefore[st.current] < min) {
            min = st.historyBefore[st.current];
        }
        if (min > 1 && min !== Infinity) {
            st.pagingUp = true;
            send({ type: 'history', conv: st.current, before: min, limit: 50 });
        }
    });


    /* ---- attachments (docs/attachments.md) ----
     * A file button, paste and drag-and-drop; the upload goes over HTTP with
     * a progress bar, then its answer is sent in a msg.  Images show as a
     * thumbnail (made in the browser from the file, or scaled by it from
     * the link) that opens full size; other files as cards.  Links expire:
     * an image that fails to load asks history for a fresh one. */

    var ATT = {
        en: {
            attach: 'Send a file or picture', drop: 'Drop to send',
            tooLarge: '\u201c{name}\u201d is too large: files up to {max}.',
            badType: '\u201c{name}\u201d cannot be sent: {why}.',
            quota: 'Too many files this hour: please try again later.',
            failed: '\u201c{name}\u201d was not sent: {why}', uploading: 'Uploading\u2026 {p}%',
            open: 'Open full size', download: 'Download', noUpload: 'Files cannot be sent here.'
        },
        zh: {
            attach: '\u53d1\u9001\u6587\u4ef6\u6216\u56fe\u7247', drop: '\u677e\u5f00\u5373\u53ef\u53d1\u9001',
            tooLarge: '\u201c{name}\u201d\u592a\u5927\uff1a\u6587\u4ef6\u4e0d\u80fd\u8d85\u8fc7 {max}\u3002',
            badType: '\u201c{name}\u201d\u65e0\u6cd5\u53d1\u9001\uff1a{why}\u3002',
            quota: '\u672c\u5c0f\u65f6\u53d1\u9001\u7684\u6587\u4ef6\u8fc7\u591a\uff0c\u8bf7\u7a0d\u540e\u518d\u8bd5\u3002',
            failed: '\u201c{name}\u201d\u53d1\u9001\u5931\u8d25\uff1a{why}', uploading: '\u6b63\u5728\u4e0a\u4f20\u2026 {p}%',
            open: '\u67e5\u770b\u539f\u56fe', download: '\u4e0b\u8f7d', noUpload: '\u6b64\u5904\u4e0d\u80fd\u53d1\u9001\u6587\u4ef6\u3002'
        }
    }[opts.lang];
    var ICON_CLIP = 'M16.5 6v11.5a4 4 0 01-8 0V5a2.5 2.5 0 015 0v10.5a1 1 0 01-2 0V6H10v9.5a2.5 2.5 0 005 0V5a4 4 0 00-8 0v12.5a5.5 5.5 0 0011 0V6h-1.5z';

    function at(key, vars) {
        return String(ATT[key]).replace(/\{(\w+)\}/g, function (_, k) {
            return vars && vars[k] !== undefined ? vars[k] : '';
        });
    }
    /* links are relative to the chat server, which may not be the page's */
    var httpBase = opts.ws.replace(/^ws/, 'http').replace(/^(https?:\/\/[^/]+).*$/, '$1');
    function fileUrl(u) { return /^https?:/.test(u) ? u : httpBase + u; }
    function fmtSize(n) {
        return n < 1024 ? n + ' B'
            : n < 1048576 ? Math.round(n / 1024) + ' KB'
            : (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + ' MB';
    }
    function fileKind(a) {
        var k = { 'application/pdf': 'PDF', 'text/plain': 'TXT', 'application/zip': 'ZIP',
                  'video/mp4': 'MP4' }[a.type];
        return k || ((a.name || '').split('.').pop() || 'FILE').slice(0, 4).toUpperCase();
    }

    var fileInput = el('input');
    fileInput.type = 'file';
    fileInput.multiple = true;
    fileInput.hidden = true;
    fileInput.className = 'kf-file';
    fileInput.addEventListener('change', function () {
        sendFiles(fileInput.files);
        fileInput.value = '';
    });

    function attachBtn() {
        var b = el('button', 'kf-attach');
        b.type = 'button';
        b.setAttribute('aria-label', at('attach'));
        b.title = at('attach');
        b.appendChild(svg(ICON_CLIP, 22));
        b.addEventListener('click', function () { fileInput.click(); });
        var span = el('span', 'kf-attach-wrap');
        span.appendChild(b);
        span.appendChild(fileInput);
        return span;
    }

    function attachNode(e) {
        var a = e.attachment, box, img;
        /* an image nothing can show (refused before a thumbnail): a card */
        if (/^image\//.test(a.type || '') && (a.url || e.thumb)) {
            box = el('button', 'kf-att kf-att-img');
            box.type = 'button';
            box.setAttribute('aria-label', at('open') + ': ' + a.name);
            img = el('img');
            img.alt = a.name || '';
            if (a.width && a.height) {
                var w = Math.min(220, a.width), h = Math.round(w * a.height / a.width);
                if (h > 220) { h = 220; w = Math.round(h * a.width / a.height); }
                img.width = Math.max(w, 24);
                img.height = Math.max(h, 24);
            }
            img.src = e.thumb || (a.url ? fileUrl(a.url) : '');
            img.addEventListener('error', function () { attachRefresh(e); });
            box.appendChild(img);
            box.addEventListener('click', function () {
                if (e.attachment.url) { lightbox(e.attachment); }
            });
        } else {
            box = el(a.url ? 'a' : 'div', 'kf-att kf-att-file');
            if (a.url) {
                box.href = fileUrl(a.url);
                box.setAttribute('download', a.name || '');
                box.target = '_blank';
                box.rel = 'noopener';
                box.title = at('download');
            }
            box.appendChild(el('span', 'kf-att-icon', fileKind(a)));
            var info = el('span', 'kf-att-info');
            info.appendChild(el('span', 'kf-att-name', a.name));
            info.appendChild(el('span', 'kf-att-size', fmtSize(a.size || 0)));
            box.appendChild(info);
        }
        var wrapNode = el('div', 'kf-att-wrap');
        wrapNode.appendChild(box);
        if (e.progress !== undefined && e.progress < 100 && !e.attError) {
            var bar = el('div', 'kf-progress');
            bar.setAttribute('role', 'progressbar');
            bar.setAttribute('aria-valuemin', '0');
            bar.setAttribute('aria-valuemax', '100');
            var fill = el('i');
            bar.appendChild(fill);
            var label = el('div', 'kf-progress-text');
            wrapNode.appendChild(bar);
            wrapNode.appendChild(label);
            e.paint = function () {
                fill.style.width = e.progress + '%';
                bar.setAttribute('aria-valuenow', String(e.progress));
                label.textContent = at('uploading', { p: e.progress });
            };
            e.paint();
        }
        if (e.attError) {
            wrapNode.appendChild(el('div', 'kf-att-error', e.attError));
        }
        return wrapNode;
    }

    function rebuild(e) {
        if (e.node && e.node.parentNode) { e.node.parentNode.removeChild(e.node); }
        e.node = null;
        render();
    }

    /* a thumbnail made in the browser from the file itself */
    function makeThumb(file, done) {
        var url = URL.createObjectURL(file), im = new Image();
        im.onload = function () {
            var s = Math.min(1, 440 / Math.max(im.naturalWidth, im.naturalHeight));
            var c = document.createElement('canvas');
            c.width = Math.max(1, Math.round(im.naturalWidth * s));
            c.height = Math.max(1, Math.round(im.naturalHeight * s));
            c.getContext('2d').drawImage(im, 0, 0, c.width, c.height);
            URL.revokeObjectURL(url);
            try { done(c.toDataURL('image/png')); } catch (err) { done(null); }
        };
        im.onerror = function () { URL.revokeObjectURL(url); done(null); };
        im.src = url;
    }

    function sendFiles(files) {
        for (var i = 0; i < (files ? files.length : 0); i++) { sendFile(files[i]); }
    }

    function sendFile(f) {
        var up = st.upload, name = f.name || 'image.png', cid = cidgen();
        var e = {
            kind: 'msg', cid: cid, text: '', ts: Date.now(),
            from: { role: 'visitor', id: st.me },
            attachment: { name: name, type: f.type, size: f.size }, progress: 0
        };
        st.entries['c:' + cid] = e;
        st.stick = true;
        if (!up) {
            e.failed = 'bad_request';
            e.attError = at('noUpload');
        } else if (f.size > up.max_size) {
            /* refused before a byte is sent */
            e.failed = 'too_large';
            e.attError = at('tooLarge', { name: name, max: fmtSize(up.max_size) });
        }
        render();
        if (e.attError) { return; }
        if (/^image\//.test(f.type)) {
            makeThumb(f, function (url) { if (url) { e.thumb = url; rebuild(e); } });
        }
        var c = st.current && st.convs[st.current];
        var q = '?site=' + encodeURIComponent(opts.site) + '&name=' + encodeURIComponent(name) +
                (c && c.state !== 'closed' ? '&conv=' + encodeURIComponent(st.current) : '');
        var xhr = new XMLHttpRequest();
        xhr.open('POST', fileUrl(up.url) + q);
        xhr.setRequestHeader('Authorization', 'Bearer ' + (opts.token || load('token', '')));
        xhr.upload.onprogress = function (ev) {
            if (ev.lengthComputable) {
                e.progress = Math.min(99, Math.floor(ev.loaded * 100 / ev.total));
                if (e.paint) { e.paint(); }
            }
        };
        xhr.onload = function () {
            var j = null;
            try { j = JSON.parse(xhr.responseText); } catch (err) { j = null; }
            if (xhr.status === 201 && j && j.attachment) {
                e.progress = 100;
                e.attachment = j.attachment;
                var o = { cid: cid, text: '', ts: e.ts, attachment: j.attachment };
                st.outbox.push(o);
                save('outbox', st.outbox);
                send({ type: 'msg', cid: cid, text: '', attachment: j.attachment });
                rebuild(e);
                return;
            }
            uploadFailed(e, xhr.status, j);
        };
        xhr.onerror = function () { uploadFailed(e, 0, null); };
        xhr.send(f);
    }

    function uploadFailed(e, status, j) {
        var why = (j && j.error && j.error.message) || (status ? 'HTTP ' + status : 'network error');
        var name = e.attachment.name;
        e.failed = (j && j.error && j.error.code) || 'failed';
        e.attError = status === 413 ? at('tooLarge', { name: name, max: fmtSize(st.upload.max_size) })
            : status === 415 ? at('badType', { name: name, why: why })
            : status === 429 ? at('quota')
            : at('failed', { name: name, why: why });
        rebuild(e);
    }

    /* an expired link: history hands out a fresh one (once per entry) */
    function attachRefresh(e) {
        if (e.refreshed || !e.seq || !e.conv || e.thumb) { return; }
        e.refreshed = true;
        send({ type: 'history', conv: e.conv, before: e.seq + 1, limit: 1 });
    }
    function attachFresh(h) {
        var old = h.attachment && h.conv && h.seq && st.entries[h.conv + ':' + h.seq];
        if (old && old.attachment && old.attachment.url !== h.attachment.url) {
            old.attachment = h.attachment;
            rebuild(old);
        }
    }

    form.insertBefore(attachBtn(), input);

    var box = el('div', 'kf-lightbox');
    box.hidden = true;
    box.setAttribute('role', 'dialog');
    var boxImg = el('img');
    box.appendChild(boxImg);
    box.addEventListener('click', function () { box.hidden = true; boxImg.removeAttribute('src'); });
    wrap.appendChild(box);
    function lightbox(a) {
        boxImg.alt = a.name || '';
        boxImg.src = fileUrl(a.url);
        box.hidden = false;
    }

    input.addEventListener('paste', function (ev) {
        var items = (ev.clipboardData && ev.clipboardData.files) || [];
        if (items.length) {
            ev.preventDefault();
            sendFiles(items);
        }
    });
    panel.addEventListener('dragover', function (ev) {
        if (ev.dataTransfer && Array.prototype.indexOf.call(ev.dataTransfer.types, 'Files') >= 0) {
            ev.preventDefault();
            panel.classList.add('kf-dragging');
            panel.setAttribute('data-drop', at('drop'));
        }
    });
    panel.addEventListener('dragleave', function (ev) {
        if (ev.target === panel || !panel.contains(ev.relatedTarget)) {
            panel.classList.remove('kf-dragging');
        }
    });
    panel.addEventListener('drop', function (ev) {
        panel.classList.remove('kf-dragging');
        if (ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files.length) {
            ev.preventDefault();
            sendFiles(ev.dataTransfer.files);
        }
    });

    /* ---- opening and closing ---- */

    function setOpen(open) {
        if (opts.mode === 'page') { open = true; }
        st.open = open;
        wrap.classList.toggle('kf-open', open);
        launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
        save('open', open);
        if (open) {
            st.stick = true;
            render();
            setTimeout(function () { input.focus(); }, 50);
        } else {
            renderBadge();
        }
    }
    launcher.addEventListener('click', function () { setOpen(!st.open); });
    closeBtn.addEventListener('click', function () {
        setOpen(false);
        launcher.focus();
    });
    panel.addEventListener('keydown', function (ev) {
        if (ev.key === 'Escape' && opts.mode === 'launcher') {
            setOpen(false);
            launcher.focus();
        }
    });
    document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'visible') { markRead(); }
        renderBadge();
    });

    /* ---- the network and the page ---- */

    window.addEventListener('offline', function () {
        dropConnection();
        setConn('offline');
    });
    window.addEventListener('online', function () {
        if (st.refused) { return; }
        st.tries = 0;
        clearTimeout(st.timer);
        connect();
    });

    function pageChanged() {
        setTimeout(function () {
            if (location.href === st.lastPage) { return; }
            st.lastPage = location.href;
            send({ type: 'page', url: location.href, title: document.title });
        }, 300);
    }
    ['pushState', 'replaceState'].forEach(function (f) {
        var orig = history[f];
        history[f] = function () {
            var r = orig.apply(this, arguments);
            pageChanged();
            return r;
        };
    });
    window.addEventListener('popstate', pageChanged);
    window.addEventListener('hashchange', pageChanged);

    /* ---- start ---- */

    st.outbox.forEach(addPending);
    function mount() {
        document.body.appendChild(host);
        setOpen(opts.mode === 'page' || opts.open || load('open', false));
        connect();
    }
    if (document.body) {
        mount();
    } else {
        document.addEventListener('DOMContentLoaded', mount);
    }

    window.KefuWidget = {
        open: function () { setOpen(true); },
        close: function () { setOpen(false); },
        toggle: function () { setOpen(!st.open); },
        /* the conversation shown, for the shop page's own use */
        conversation: function () { return st.current; },
        visitor: function () { return st.me; }
    };
})();
