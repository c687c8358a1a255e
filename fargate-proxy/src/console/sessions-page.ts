// The sessions page: static HTML + a same-origin script (the console's CSP forbids inline script).
// The script keeps the token in sessionStorage under the same key as the approvals page (one
// sign-in serves both) and renders with textContent only: statement text, column names and cells
// are attacker-controlled and must never become markup.
import { send } from './http.js';
import type { ConsoleRoute } from './router.js';
import { signInSection } from './common-script.js';

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Airlock sessions</title>
<link rel="stylesheet" href="/sessions.css">
<script src="/console-signin.js" defer></script>
<script src="/console-common.js" defer></script>
<script src="/sessions.js" defer></script>
</head>
<body>
<header><h1>Airlock sessions</h1><a href="/">approvals</a><span id="who">not signed in</span> <button id="sign-out" type="button" hidden>Sign out</button></header>
${signInSection(`of a session viewer (groups <code>auditors</code> or <code>reviewers</code> by default). With <code>npm start</code>, print one with <code>npm run -s airlock -- token --client reviewer</code>.`)}
<main id="main" hidden>
  <p id="message" role="status"></p>
  <form id="filters">
    <label>Principal <input id="f-principal" type="text" autocomplete="off"></label>
    <label>Target <input id="f-target" type="text" autocomplete="off"></label>
    <label>From <input id="f-from" type="date"></label>
    <label>To <input id="f-to" type="date"></label>
    <label><input id="f-refused" type="checkbox"> refused or denied only</label>
    <button id="apply" type="submit">Filter</button>
  </form>
  <table id="sessions">
    <thead><tr><th>Started</th><th>Principal</th><th>Target</th><th>Status</th><th>Statements</th><th>Client</th><th>Session</th></tr></thead>
    <tbody></tbody>
  </table>
  <p id="empty" hidden>No sessions match.</p>
  <section id="replay" hidden>
    <h2>Session <span id="replay-id"></span></h2>
    <p id="replay-summary"></p>
    <p id="chain"></p>
    <table id="timeline">
      <thead><tr><th>Time</th><th>#</th><th>Statement</th><th>Class</th><th>Decision</th><th>Approval</th><th>Outcome</th><th>Response (as the agent got it)</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;

const CSS = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}
form#filters{display:flex;flex-wrap:wrap;gap:.8rem;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}th,td{border:1px solid #ccc;padding:.35rem;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;word-break:break-word;margin:0;max-width:40rem}
#sessions tbody tr{cursor:pointer}#sessions tbody tr:hover,tr.selected{background:#eef4ff}
tr.deny td.decision{color:#a00;font-weight:600}tr.session td{background:#f6f6f6}
table.rows{width:auto;margin:.3rem 0}table.rows td,table.rows th{font-family:monospace;font-size:.85rem}
.error,.broken{color:#a00}.intact{color:#070}.null{color:#888;font-style:italic}.note{color:#555;font-size:.85rem}
`;

const SCRIPT = `'use strict';
(function () {
  var C = window.AirlockConsole, $ = C.$, token = C.token, say = C.say, signOut = C.signOut;
  function api(path) { return C.api('GET', path); }
  function el(tag, text, className) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }
  function td(tr, content, className) {
    var c = el('td', undefined, className);
    (Array.isArray(content) ? content : [content]).forEach(function (x) {
      if (x === undefined || x === null) return;
      c.appendChild(typeof x === 'string' || typeof x === 'number' ? document.createTextNode(String(x)) : x);
    });
    tr.appendChild(c);
    return c;
  }
  function block(text, className) { return el('div', text, className); }
  function time(iso) { return iso ? iso.replace('T', ' ').replace(/\\.\\d+Z$/, 'Z') : ''; }
  function statusOf(s) {
    if (s.authRefused) return 'refused: ' + (s.endReason || 'login');
    return (s.endedAt ? 'ended' : 'open') + (s.denied > 0 ? ', ' + s.denied + ' denied' : '');
  }
  function query() {
    var p = new URLSearchParams();
    [['principal', 'f-principal'], ['target', 'f-target'], ['from', 'f-from'], ['to', 'f-to']].forEach(function (f) {
      var v = $(f[1]).value.trim(); if (v) p.set(f[0], v);
    });
    if ($('f-refused').checked) p.set('refusedOnly', 'true');
    return p.toString();
  }
  function renderList(list) {
    var selected = currentId();
    var rows = list.map(function (s) {
      var tr = document.createElement('tr');
      tr.dataset.id = s.sessionId;
      if (s.sessionId === selected) tr.className = 'selected';
      td(tr, time(s.startedAt));
      td(tr, s.principal || '-');
      td(tr, s.target ? s.target + (s.targetKind ? ' [' + s.targetKind + ']' : '') : '-');
      td(tr, statusOf(s), s.authRefused || s.denied > 0 ? 'error' : '');
      td(tr, s.statements === undefined ? '-' : s.statements);
      td(tr, s.client || '-');
      td(tr, s.sessionId);
      tr.addEventListener('click', function () { location.hash = 'session=' + encodeURIComponent(s.sessionId); });
      return tr;
    });
    var tbody = $('sessions').querySelector('tbody');
    tbody.replaceChildren.apply(tbody, rows);
    $('empty').hidden = list.length > 0;
  }
  function refreshList() {
    return api('/api/sessions?' + query()).then(function (j) {
      $('who').textContent = 'signed in as ' + j.viewer.id;
      renderList(j.sessions);
    });
  }
  function rowsTable(result) {
    var t = el('table', undefined, 'rows');
    if (result.columns.length) {
      var hr = document.createElement('tr');
      result.columns.forEach(function (c) { hr.appendChild(el('th', c)); });
      t.appendChild(el('thead')).appendChild(hr);
    }
    var body = t.appendChild(el('tbody'));
    result.rows.forEach(function (r) {
      var tr = document.createElement('tr');
      r.forEach(function (c) { tr.appendChild(c === null ? el('td', 'NULL', 'null') : el('td', c)); });
      body.appendChild(tr);
    });
    return t;
  }
  function responseCell(resp) {
    if (!resp) return [];
    var out = [];
    var s = resp.shown;
    if (s && s.kind === 'postgres') {
      s.results.forEach(function (r) {
        if (r.columns.length || r.rows.length) out.push(rowsTable(r));
        if (r.rowCount > r.rows.length) out.push(block((r.rowCount - r.rows.length) + ' more rows captured', 'note'));
        if (r.command) out.push(block(r.command, 'note'));
      });
      s.errors.forEach(function (e) { out.push(block('ERROR ' + (e.code || '') + ': ' + e.message, 'error')); });
      s.notices.forEach(function (n) { out.push(block('NOTICE: ' + n, 'note')); });
      if (s.incomplete) out.push(block('(capture ends mid-message)', 'note'));
    } else if (s) {
      out.push(el('pre', s.text, 'preview ' + s.kind));
      if (s.omittedBytes > 0) out.push(block(s.omittedBytes + ' more bytes kept', 'note'));
    }
    out.push(block(resp.totalBytes + ' bytes sent' + (resp.truncated ? ', ' + resp.keptBytes + ' kept (cut at the cap)' : '') + ', sha256 ' + resp.sha256.slice(0, 16) + '…', 'note'));
    return out;
  }
  function outcomeCell(o) {
    if (!o) return ['-'];
    var out = [block(o.status + (o.rows !== undefined ? ', ' + o.rows + ' rows' : '') + ', ' + o.durationMs + ' ms')];
    if (o.error) out.push(block(o.error.code + ': ' + o.error.message, 'error'));
    if (o.masking && o.masking.total > 0) {
      out.push(block('masked ' + o.masking.total + ': ' + Object.keys(o.masking.counts).map(function (k) { return k + ' ' + o.masking.counts[k]; }).join(', '), 'masking'));
    }
    return out;
  }
  function sessionRow(tbody, e, text) {
    var tr = document.createElement('tr'); tr.className = 'session ' + e.kind.replace('.', '-');
    td(tr, time(e.at)); td(tr, e.seq);
    var c = td(tr, text); c.colSpan = 6;
    tbody.appendChild(tr);
  }
  function renderReplay(r) {
    $('replay-id').textContent = r.sessionId;
    $('chain').textContent = r.chain.intact
      ? 'Hash chain intact (' + r.chain.events + ' events). Run airlock audit verify to check signed digests.'
      : 'Hash chain BROKEN: ' + r.chain.problems.map(function (p) { return p.message; }).join('; ');
    $('chain').className = r.chain.intact ? 'intact' : 'broken';
    var tbody = $('timeline').querySelector('tbody');
    tbody.replaceChildren();
    $('replay-summary').textContent = '';
    r.timeline.forEach(function (e) {
      if (e.kind === 'session.start') {
        $('replay-summary').textContent = e.principal.id + (e.principal.groups.length ? ' (' + e.principal.groups.join(', ') + ')' : '') +
          ' to ' + e.target + ' [' + e.targetKind + '] over ' + e.protocol + ' from ' + e.client;
        sessionRow(tbody, e, 'session start: ' + e.principal.id + ' from ' + e.client);
      } else if (e.kind === 'auth.refused') {
        sessionRow(tbody, e, 'login refused ' + e.code + ': ' + e.reason + (e.target ? ' (target ' + e.target + ')' : '') + ' from ' + e.client);
      } else if (e.kind === 'session.end') {
        sessionRow(tbody, e, 'session end: ' + e.reason + '; ' + e.statements + ' statements, ' + e.durationMs + ' ms');
      } else if (e.kind === 'unparsable') {
        sessionRow(tbody, { kind: 'unparsable', at: '', seq: '' }, 'line ' + e.line + ' is not a valid event');
      } else if (e.kind === 'statement') {
        var st = e.statement;
        var tr = document.createElement('tr');
        tr.className = 'statement ' + (st ? st.decision.effect : 'missing');
        tr.dataset.statementId = e.statementId;
        td(tr, time(e.at)); td(tr, e.seq);
        td(tr, st ? el('pre', st.text) : '(statement event missing)', 'text');
        td(tr, st ? st.class : '-', 'class');
        td(tr, st ? [block(st.decision.effect.toUpperCase() + ' by ' + (st.decision.policyIds.length ? st.decision.policyIds.join(', ') : 'default deny')),
          block('policy version ' + st.decision.policyVersion, 'note'),
          st.decision.effect !== 'allow' ? block(st.decision.reason, 'note') : null] : '-', 'decision');
        td(tr, e.approvals.length ? e.approvals.map(function (a) {
          return block(a.state + (a.reviewer ? ' by ' + a.reviewer : '') + (a.reason ? ' (' + a.reason + ')' : '') + ' [' + a.approvalId + ']');
        }) : '-', 'approval');
        td(tr, outcomeCell(e.outcome), 'outcome');
        td(tr, responseCell(e.outcome && e.outcome.response), 'response');
        tbody.appendChild(tr);
      }
    });
    $('replay').hidden = false;
  }
  function currentId() {
    var m = location.hash.match(/session=([^&]+)/);
    if (!m) return undefined;
    try { return decodeURIComponent(m[1]); } catch (e) { return undefined; }
  }
  function openCurrent() {
    var id = currentId();
    Array.prototype.forEach.call($('sessions').querySelectorAll('tbody tr'), function (tr) { tr.className = tr.dataset.id === id ? 'selected' : ''; });
    if (!id) { $('replay').hidden = true; return Promise.resolve(); }
    return api('/api/sessions/' + encodeURIComponent(id)).then(renderReplay, failed);
  }
  function failed(e) {
    if (e.status === 401 || e.status === 403) signOut(e.message); else say(e.message, true);
  }
  function signIn() {
    say('');
    return refreshList().then(function () {
      $('sign-in').hidden = true; $('main').hidden = false; $('sign-out').hidden = false;
      return openCurrent();
    }, failed);
  }
  document.addEventListener('DOMContentLoaded', function () {
    C.start(signIn);
    $('filters').addEventListener('submit', function (ev) { ev.preventDefault(); say(''); refreshList().catch(failed); });
    window.addEventListener('hashchange', function () { if (token()) openCurrent(); });
  });
})();
`;

export function sessionsPageRoutes(): ConsoleRoute[] {
  return [
    { method: 'GET', path: '/sessions', handler: ({ res }) => send(res, 200, 'text/html; charset=utf-8', HTML) },
    { method: 'GET', path: '/sessions.css', handler: ({ res }) => send(res, 200, 'text/css; charset=utf-8', CSS) },
    { method: 'GET', path: '/sessions.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', SCRIPT) },
  ];
}
