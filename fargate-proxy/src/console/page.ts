// The console page. Static HTML + a same-origin script (CSP forbids inline script); the script
// fetches the JSON API with the token kept in sessionStorage and renders with textContent only,
// so statement text (attacker-controlled) can never become markup.
import { send } from './http.js';
import type { ConsoleRoute } from './router.js';
import { COMMON_SCRIPT, signInSection } from './common-script.js';

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Airlock console</title>
<link rel="stylesheet" href="/console.css">
<script src="/console-signin.js" defer></script>
<script src="/console-common.js" defer></script>
<script src="/console.js" defer></script>
</head>
<body>
<header><h1>Airlock</h1><a href="/sessions">sessions</a> <a href="/tasks">tasks</a><span id="who">not signed in</span> <button id="sign-out" type="button" hidden>Sign out</button></header>
${signInSection(`issued to a reviewer. With <code>npm start</code>, print one with <code id="token-hint">npm run -s airlock -- token --client reviewer</code> (with <code>serve</code>, add <code>-c FILE</code>, or get it from your identity provider).`)}
<main id="main" hidden>
  <h2>Pending approvals</h2>
  <p id="message" role="status"></p>
  <table id="approvals">
    <thead><tr><th>Statement</th><th>Class</th><th>Requester</th><th>Target</th><th>Policy</th><th>Agent's reason</th><th>Age</th><th>Decision</th></tr></thead>
    <tbody></tbody>
  </table>
  <p id="empty" hidden>No pending requests.</p>
</main>
</body>
</html>
`;

const CSS = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;word-break:break-word;margin:0;max-width:40rem}
tr.highlight{background:#fff7d6}.error{color:#a00}.decision input.minutes{width:4rem}
.decision div{margin:.2rem 0}
`;

const SCRIPT = `'use strict';
(function () {
  var C = window.AirlockConsole, $ = C.$, token = C.token, say = C.say, api = C.api, signOut = C.signOut;
  function cell(tr, text, pre) {
    var td = document.createElement('td');
    var el = pre ? document.createElement('pre') : td;
    el.textContent = text;
    if (pre) td.appendChild(el);
    tr.appendChild(td);
    return td;
  }
  function el(tag, props) { var e = document.createElement(tag); for (var k in props) e[k] = props[k]; return e; }
  function age(s) { return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min'; }
  function decisionCell(tr, a) {
    var td = document.createElement('td'); td.className = 'decision';
    var scope = el('select', { className: 'scope' });
    [['once', 'once'], ['shape', 'this statement shape for'], ['session', 'this session for']].forEach(function (o) {
      scope.appendChild(el('option', { value: o[0], textContent: o[1] }));
    });
    var minutes = el('input', { type: 'number', className: 'minutes', value: '15', min: '1', max: '1440' });
    var approve = el('button', { type: 'button', className: 'approve', textContent: 'Approve' });
    approve.addEventListener('click', function () {
      var body = { scope: scope.value };
      if (scope.value !== 'once') body.minutes = Number(minutes.value);
      decide(a.id, 'approve', body);
    });
    var reason = el('input', { type: 'text', className: 'reason', placeholder: 'reason (required to deny)' });
    var deny = el('button', { type: 'button', className: 'deny', textContent: 'Deny' });
    deny.addEventListener('click', function () { decide(a.id, 'deny', { reason: reason.value }); });
    var d1 = document.createElement('div'); d1.append(approve, ' ', scope, ' ', minutes, ' min');
    var d2 = document.createElement('div'); d2.append(reason, ' ', deny);
    td.append(d1, d2);
    tr.appendChild(td);
  }
  // Rows that stay pending are kept (only their age changes) so a half-typed reason survives refreshes.
  function render(list) {
    var tbody = $('approvals').querySelector('tbody');
    var existing = {};
    Array.prototype.forEach.call(tbody.children, function (tr) { existing[tr.dataset.id] = tr; });
    var focus = (location.hash.match(/approval=([^&]+)/) || [])[1];
    var rows = list.map(function (a) {
      var kept = existing[a.id];
      if (kept) { delete existing[a.id]; kept.querySelector('td.age').textContent = age(a.ageSeconds); return kept; }
      var tr = document.createElement('tr');
      tr.dataset.id = a.id;
      if (focus && decodeURIComponent(focus) === a.id) tr.className = 'highlight';
      cell(tr, a.statement, true);
      cell(tr, a.statementClass);
      cell(tr, a.requester);
      cell(tr, a.target + ' (' + a.environment + ')');
      cell(tr, a.policyIds.join(', '));
      cell(tr, a.agentReason || '');
      cell(tr, age(a.ageSeconds)).className = 'age';
      decisionCell(tr, a);
      return tr;
    });
    tbody.replaceChildren.apply(tbody, rows);
    $('empty').hidden = list.length > 0;
  }
  function refresh() {
    if (!token()) return Promise.resolve();
    return api('GET', '/api/approvals').then(function (j) { render(j.approvals); }, function (e) {
      if (e.status === 401) signOut('Your token was refused: sign in again.'); else say(e.message, true);
    });
  }
  function decide(id, verb, body) {
    api('POST', '/api/approvals/' + encodeURIComponent(id) + '/' + verb, body).then(function (j) {
      var a = j.approval;
      say(j.first ? 'Request ' + a.id + ' ' + a.state + '.' : 'Request ' + a.id + ' was already ' + a.state + (a.reviewer ? ' by ' + a.reviewer : '') + '.', !j.first);
      return refresh();
    }, function (e) { say(e.message, true); });
  }
  function signIn() {
    return api('GET', '/api/whoami').then(function (me) {
      $('who').textContent = 'signed in as ' + me.id + (me.reviewer ? '' : ' (not a reviewer)');
      $('sign-in').hidden = true; $('main').hidden = false; $('sign-out').hidden = false;
      return refresh();
    }, function (e) { signOut(e.message); });
  }
  document.addEventListener('DOMContentLoaded', function () {
    C.start(signIn);
    setInterval(refresh, 5000);
  });
})();
`;

export function pageRoutes(): ConsoleRoute[] {
  return [
    { method: 'GET', path: '/', handler: ({ res }) => send(res, 200, 'text/html; charset=utf-8', HTML) },
    { method: 'GET', path: '/console.css', handler: ({ res }) => send(res, 200, 'text/css; charset=utf-8', CSS) },
    { method: 'GET', path: '/console.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', SCRIPT) },
    { method: 'GET', path: '/console-common.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', COMMON_SCRIPT) },
  ];
}
