// meshgate Traffic Inspector page: vanilla JS, no build step. Talks to the console's JSON API
// (/api/inspect/*, see services/console/inspector-routes.ts) with the API key from
// sessionStorage as `Authorization: Bearer`. Everything shown is put in the page as text
// (textContent / createTextNode): nothing from a request is ever parsed as HTML.
'use strict';
(() => {
  const KEY = 'meshgate.inspector.key';
  const ACCOUNT = 'meshgate.inspector.account';
  const POLL_MS = 1500;
  const PAGE_SIZE = 200;

  const $ = (id) => document.getElementById(id);
  const state = { captures: [], seen: new Set(), selected: '', live: true, timer: 0, loading: false, who: null, endpointsAt: 0 };

  /** createElement with text children only: strings become text nodes. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else if (k === 'text') node.textContent = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    return fill(node, children, false);
  }

  /** Appends (or with `replace`, replaces the content by) children: nodes, strings, nested lists. */
  function fill(node, children, replace = true) {
    if (replace) node.replaceChildren();
    for (const c of [children].flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // ------------------------------------------------------------------------------------------
  // API

  async function api(path, opts = {}) {
    const headers = { authorization: 'Bearer ' + (sessionStorage.getItem(KEY) || '') };
    const account = sessionStorage.getItem(ACCOUNT);
    if (account) headers['meshgate-account'] = account;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method: opts.method || 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: 'no-store' });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || res.status + ' ' + res.statusText);
      err.code = data.error && data.error.code;
      err.status = res.status;
      if (res.status === 401) signOut(err.message);
      throw err;
    }
    return data;
  }

  // ------------------------------------------------------------------------------------------
  // Sign-in

  async function signIn(key, account) {
    sessionStorage.setItem(KEY, key);
    if (account) sessionStorage.setItem(ACCOUNT, account);
    else sessionStorage.removeItem(ACCOUNT);
    try {
      state.who = await api('/api/inspect/whoami');
    } catch (e) {
      signOut(e.message);
      return;
    }
    $('signin').hidden = true;
    $('app').hidden = false;
    $('controls').hidden = false;
    $('signout').hidden = false;
    const w = state.who;
    $('who').textContent = (w.admin ? (w.account ? 'admin · ' + w.account : 'admin · every account') : w.account) + ' · edge ' + w.nodeId + ' (' + w.region + ')';
    await loadEndpoints();
    await refresh();
    schedule();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ACCOUNT);
    clearTimeout(state.timer);
    state.captures = [];
    state.seen = new Set();
    state.selected = '';
    $('app').hidden = true;
    $('controls').hidden = true;
    $('signout').hidden = true;
    $('who').textContent = '';
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('key').value = '';
    $('key').focus();
  }

  // ------------------------------------------------------------------------------------------
  // Endpoint picker and full-capture switch

  async function loadEndpoints() {
    const data = await api('/api/inspect/endpoints');
    state.endpointsAt = Date.now();
    const pick = $('endpoint');
    const current = pick.value;
    const all = state.who && state.who.admin && !state.who.account;
    pick.replaceChildren(el('option', { value: '' }, 'All endpoints'));
    for (const e of data.endpoints || []) {
      const label = (all ? e.account + ' · ' : '') + e.url + (e.online ? '' : ' (offline)');
      pick.append(el('option', { value: e.url }, label));
    }
    pick.value = [...pick.options].some((o) => o.value === current) ? current : '';
    await loadSettings();
  }

  async function loadSettings() {
    const box = $('full');
    const url = $('endpoint').value;
    const scoped = state.who && (state.who.account || !state.who.admin);
    box.disabled = !url || !scoped;
    box.checked = false;
    if (box.disabled) return;
    try {
      const s = await api('/api/inspect/settings?endpoint=' + encodeURIComponent(url));
      box.checked = !!s.full;
      box.parentElement.title = 'Capture headers and bodies (up to ' + (s.maxBodyBytes || 0) + ' bytes each) of ' + url + ' · from ' + s.source;
    } catch (e) {
      box.disabled = true;
    }
  }

  async function setFull() {
    const box = $('full');
    box.disabled = true;
    try {
      const s = await api('/api/inspect/settings', { method: 'PUT', body: { endpoint: $('endpoint').value, full: box.checked } });
      box.checked = !!s.full;
    } catch (e) {
      box.checked = !box.checked;
      $('warn').textContent = e.message;
    } finally {
      box.disabled = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // The list

  function query() {
    const p = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    if ($('endpoint').value) p.set('endpoint', $('endpoint').value);
    const path = $('path').value.trim();
    if (path) p.set('pathPrefix', path.startsWith('/') ? path : '/' + path);
    if ($('status').value) p.set('status', $('status').value);
    return p.toString();
  }

  async function refresh() {
    if (state.loading) return;
    state.loading = true;
    try {
      const data = await api('/api/inspect/captures?' + query());
      const first = state.seen.size === 0;
      const list = data.captures || [];
      const fresh = new Set();
      for (const c of list) {
        if (!state.seen.has(c.id)) {
          if (!first) fresh.add(c.id);
          state.seen.add(c.id);
        }
      }
      state.captures = list;
      renderList(fresh);
      const missing = data.unreachableNodes || [];
      $('warn').textContent = missing.length ? 'not answering: ' + missing.join(', ') : '';
      if (Date.now() - state.endpointsAt > 15000) loadEndpoints().catch(() => {});
    } catch (e) {
      $('warn').textContent = e.message;
    } finally {
      state.loading = false;
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      if (state.live && !document.hidden && sessionStorage.getItem(KEY)) await refresh();
      if (sessionStorage.getItem(KEY)) schedule();
    }, POLL_MS);
  }

  function statusClass(s) {
    return 'status s' + String(Math.floor((s || 0) / 100));
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function fmtDuration(ms) {
    ms = ms || 0;
    return ms < 1000 ? ms.toFixed(ms < 10 ? 2 : 1) + ' ms' : (ms / 1000).toFixed(2) + ' s';
  }

  function renderList(fresh) {
    const rows = $('rows');
    const list = state.captures;
    rows.replaceChildren(
      ...list.map((c) => {
        const served = c.servedBy ? c.servedBy.type + (c.servedBy.region ? ' · ' + c.servedBy.region : '') : '—';
        const tr = el(
          'tr',
          { dataset: { id: c.id, testid: 'request-row' }, class: (c.id === state.selected ? 'selected' : '') + (fresh.has(c.id) ? ' fresh' : ''), onclick: () => select(c.id) },
          el('td', { class: 'time', title: c.startedAt }, fmtTime(c.startedAt)),
          el('td', null, el('span', { class: 'method' }, c.method)),
          el('td', { class: 'path', title: c.host + c.path + (c.query ? '?' + c.query : '') }, c.path + (c.query ? '?' + c.query : ''), c.replayOf ? el('span', { class: 'tag' }, 'replay') : null),
          el('td', null, el('span', { class: statusClass(c.status), title: c.errorCode || '' }, c.status ? String(c.status) : '—')),
          el('td', { class: 'num' }, fmtDuration(c.durationMs)),
          el('td', null, c.region || ''),
          el('td', { title: c.servedBy ? c.servedBy.id + ' ' + c.servedBy.url : '' }, served),
        );
        return tr;
      }),
    );
    $('empty').hidden = list.length > 0;
    $('count').textContent = list.length ? list.length + (list.length === PAGE_SIZE ? '+' : '') + ' request' + (list.length === 1 ? '' : 's') : 'No requests yet';
  }

  // ------------------------------------------------------------------------------------------
  // The detail

  async function select(id) {
    state.selected = id;
    for (const tr of $('rows').children) tr.classList.toggle('selected', tr.dataset.id === id);
    const pane = $('detail');
    pane.replaceChildren(el('p', { class: 'empty' }, 'Loading ' + id + '…'));
    try {
      const c = await api('/api/inspect/captures/' + encodeURIComponent(id));
      if (state.selected === id) renderDetail(c);
    } catch (e) {
      if (state.selected === id) pane.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }

  function header(headers, name) {
    const h = (headers || []).find((x) => x.name.toLowerCase() === name);
    return h ? h.value : '';
  }

  function bytesOf(b64) {
    const bin = atob(b64 || '');
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function base64Of(bytes) {
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  }

  /** The body as text when it is UTF-8 (pretty JSON when it parses), else null. */
  function textOf(bytes, type) {
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e) {
      return null;
    }
    if (/json/i.test(type)) {
      try {
        return JSON.stringify(JSON.parse(text), null, 2);
      } catch (e) {
        // not whole JSON (truncated?): as sent
      }
    }
    return text;
  }

  function hexdump(bytes) {
    const lines = [];
    const n = Math.min(bytes.length, 1024);
    for (let i = 0; i < n; i += 16) {
      const row = bytes.subarray(i, Math.min(i + 16, n));
      const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(i.toString(16).padStart(6, '0') + '  ' + hex.padEnd(48) + '  ' + ascii);
    }
    return lines.join('\n');
  }

  function messageSection(title, m, testid) {
    const out = [el('h3', null, title)];
    if (!m) return out;
    const headers = m.headers || [];
    out.push(el('table', { class: 'kv', dataset: { testid: testid + '-headers' } }, headers.map((h) => el('tr', null, el('td', null, h.name), el('td', null, h.value)))));
    if (m.headersTruncated) out.push(el('p', { class: 'note' }, 'Headers truncated: only the first 32 KiB were kept.'));
    const size = m.bodySize || 0;
    if (size === 0) {
      out.push(el('p', { class: 'muted' }, 'No body.'));
      return out;
    }
    const bytes = bytesOf(m.body);
    const type = header(headers, 'content-type');
    const enc = header(headers, 'content-encoding');
    const text = enc ? null : textOf(bytes, type);
    out.push(el('pre', { class: 'body', dataset: { testid: testid + '-body' } }, text !== null ? text : hexdump(bytes)));
    const notes = [];
    if (text === null) notes.push((enc ? enc + '-encoded' : 'binary') + ' body, shown as hex' + (bytes.length > 1024 ? ' (first 1024 bytes)' : ''));
    if (m.bodyTruncated) notes.push('Truncated: ' + bytes.length + ' of ' + size + ' bytes captured.');
    if (m.bodyIncomplete) notes.push('The body did not end normally.');
    for (const n of notes) out.push(el('p', { class: 'note', dataset: { testid: testid + '-note' } }, n));
    return out;
  }

  function member(m) {
    if (!m) return '—';
    return [m.id, m.type, m.region && 'region ' + m.region, m.nodeId && 'node ' + m.nodeId, m.url].filter(Boolean).join(' · ');
  }

  function renderDetail(c) {
    const pane = $('detail');
    const url = c.scheme + '://' + c.host + c.path + (c.query ? '?' + c.query : '');
    const facts = [
      ['Request id', c.id],
      ['Arrived', new Date(c.startedAt).toLocaleString() + ' (' + c.startedAt + ')'],
      ['Duration', fmtDuration(c.durationMs)],
      ['Status', (c.status || 0) + (c.errorCode ? ' · ' + c.errorCode : '')],
      ['Client', c.clientIp],
      ['Received by', 'edge ' + c.nodeId + ' · region ' + c.region],
      ['Endpoint', member(c.endpoint)],
      ['Served by', member(c.servedBy)],
      ['Trace id', c.traceId || '—'],
    ];
    if (c.replayOf) facts.push(['Replay of', c.replayOf]);
    facts.push(['Capture', c.capture === 'full' ? 'headers and bodies' : c.capture === 'dropped' ? 'metadata (bodies dropped to stay within the memory budget)' : 'metadata only']);
    const replayBtn = el('button', { class: 'btn primary', type: 'button', dataset: { testid: 'replay' }, onclick: () => doReplay(c, {}) }, 'Replay');
    const editBtn = el('button', { class: 'btn', type: 'button', onclick: () => toggleEdit(c) }, 'Edit & replay');
    if (c.capture !== 'full') {
      replayBtn.disabled = true;
      editBtn.disabled = true;
      replayBtn.title = editBtn.title = 'Only metadata was captured: turn on full capture for this endpoint to replay its requests.';
    }
    const decisions = (c.decisions || []).map((d) =>
      el(
        'li',
        null,
        el('span', { class: 'mark ' + (d.kind === 'action' ? 'act' : d.matched ? 'yes' : 'no') }, d.kind === 'action' ? '→' : d.matched ? '✓' : '·'),
        el('span', null, d.path),
        el('span', { class: 'muted' }, d.kind === 'action' ? d.name : (d.name ? d.name + ' · ' : '') + (d.matched ? 'matched' : 'not matched')),
      ),
    );
    const logs = (c.logs || []).map((l) => el('li', null, el('span', { class: 'mark act' }, '✎'), el('span', null, l.action), el('span', { class: 'muted' }, l.metadataJson)));
    fill(pane, [
      el('h2', null, el('span', { class: statusClass(c.status) }, c.status ? String(c.status) : '—'), el('span', { class: 'method' }, c.method), el('span', { class: 'url' }, url)),
      el('div', { class: 'actions' }, replayBtn, editBtn),
      el('div', { id: 'edit' }),
      el('div', { id: 'replay-out', dataset: { testid: 'replay-result' } }),
      el('dl', { class: 'summary' }, facts.map(([k, v]) => [el('dt', null, k), el('dd', { class: k === 'Trace id' || k === 'Request id' ? 'mono' : '' }, v)])),
      el('h3', null, 'Traffic Policy'),
      decisions.length || logs.length ? el('ul', { class: 'decisions', dataset: { testid: 'decisions' } }, decisions, logs) : el('p', { class: 'muted' }, 'No policy ran.'),
      c.capture === 'full' ? messageSection('Request', c.request, 'request') : [el('h3', null, 'Request and response'), el('p', { class: 'muted' }, 'Headers and bodies were not captured for this request. Turn on full capture for its endpoint (the switch above, or meshgate inspect capture) to see them for new requests.')],
      c.capture === 'full' ? messageSection('Response', c.response, 'response') : null,
    ]);
  }

  function toggleEdit(c) {
    const box = $('edit');
    if (box.childElementCount) return box.replaceChildren();
    const req = c.request || {};
    const skip = new Set(['host', 'content-length', 'transfer-encoding', 'meshgate-replay-of']);
    const lines = (req.headers || []).filter((h) => !skip.has(h.name.toLowerCase())).map((h) => h.name + ': ' + h.value);
    const bytes = bytesOf(req.body);
    const text = req.bodyTruncated ? null : textOf(bytes, '');
    const method = el('input', { value: c.method, spellcheck: 'false' });
    const path = el('input', { value: c.path + (c.query ? '?' + c.query : ''), spellcheck: 'false' });
    const headers = el('textarea', { spellcheck: 'false' });
    headers.value = lines.join('\n');
    const body = el('textarea', { spellcheck: 'false', placeholder: text === null && (req.bodySize || 0) > 0 ? 'the captured body is kept unless you type a new one' : '' });
    body.value = text || '';
    const send = () => {
      const mods = {};
      if (method.value.trim() && method.value.trim() !== c.method) mods.method = method.value.trim();
      const p = path.value.trim();
      if (p && p !== c.path + (c.query ? '?' + c.query : '')) mods.path = p;
      const set = [];
      for (const line of headers.value.split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) set.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
      }
      const names = new Set(set.map((h) => h.name.toLowerCase()));
      mods.removeHeaders = (req.headers || []).map((h) => h.name).filter((n) => !skip.has(n.toLowerCase()) && !names.has(n.toLowerCase()));
      mods.setHeaders = set;
      if (body.value !== (text || '')) mods.body = base64Of(new TextEncoder().encode(body.value));
      doReplay(c, mods);
    };
    box.replaceChildren(
      el(
        'div',
        { class: 'panel' },
        el('div', { class: 'edit' }, el('label', null, 'Method'), method, el('label', null, 'Path'), path, el('label', null, 'Headers'), headers, el('label', null, 'Body'), body),
        el('div', { class: 'actions' }, el('button', { class: 'btn primary', type: 'button', onclick: send }, 'Send changed request')),
      ),
    );
  }

  async function doReplay(c, mods) {
    const out = $('replay-out');
    out.replaceChildren(el('div', { class: 'panel' }, 'Replaying ' + c.id + '…'));
    try {
      const r = await api('/api/inspect/captures/' + encodeURIComponent(c.id) + '/replay', { method: 'POST', body: mods });
      const bytes = bytesOf(r.body);
      const text = textOf(bytes, header(r.headers, 'content-type'));
      out.replaceChildren(
        el(
          'div',
          { class: 'panel result' },
          el('div', null, el('span', { class: statusClass(r.status) }, String(r.status || 0)), ' replayed as ', el('button', { class: 'link mono', type: 'button', onclick: () => openLater(r.id) }, r.id), ' on edge ' + r.nodeId + ' (' + r.region + ') in ' + fmtDuration(r.durationMs), r.errorCode ? ' · ' + r.errorCode : ''),
          (r.bodySize || 0) > 0 ? el('pre', { class: 'body' }, text !== null ? text : hexdump(bytes)) : null,
          r.bodyTruncated ? el('p', { class: 'note' }, 'Truncated: ' + bytes.length + ' of ' + r.bodySize + ' bytes shown.') : null,
        ),
      );
      refresh();
    } catch (e) {
      out.replaceChildren(el('div', { class: 'panel failed' }, e.message));
    }
  }

  /** Opens a request that may not be in the list yet (a replay just made). */
  async function openLater(id) {
    await refresh();
    select(id);
  }

  // ------------------------------------------------------------------------------------------
  // Wiring

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      signIn($('key').value.trim(), $('account').value.trim());
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('live').addEventListener('click', () => {
      state.live = !state.live;
      $('live').setAttribute('aria-pressed', String(state.live));
      if (state.live) refresh();
    });
    const requery = () => {
      state.seen = new Set();
      refresh();
    };
    $('endpoint').addEventListener('change', () => {
      requery();
      loadSettings();
    });
    $('status').addEventListener('change', requery);
    let typing = 0;
    $('path').addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(requery, 250);
    });
    $('full').addEventListener('change', setFull);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.live && sessionStorage.getItem(KEY)) refresh();
    });
    const key = sessionStorage.getItem(KEY);
    if (key) signIn(key, sessionStorage.getItem(ACCOUNT) || '');
    else signOut('');
  });
})();
