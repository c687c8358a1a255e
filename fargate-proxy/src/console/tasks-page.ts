// The tasks page (/tasks): every agent's tasks for reviewers (the agent's own for anyone else), one
// task's facts, usage and live sessions, Close, and Approve/Deny for a task waiting for a reviewer
// (through the approvals API, as on the approvals page). Data comes from the tasks JSON API
// (tasks/task-routes.ts); like the other pages, the token is in sessionStorage and everything
// the agent wrote (title, ticket, reason) is rendered with textContent only.
import { send } from './http.js';
import type { ConsoleRoute } from './router.js';
import { signInSection } from './common-script.js';

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Airlock tasks</title>
<link rel="stylesheet" href="/console.css">
<script src="/console-signin.js" defer></script>
<script src="/console-common.js" defer></script>
<script src="/tasks.js" defer></script>
</head>
<body>
<header><h1>Airlock tasks</h1><a href="/">approvals</a> <a href="/sessions">sessions</a><span id="who">not signed in</span> <button id="sign-out" type="button" hidden>Sign out</button></header>
${signInSection(`(a reviewer's shows every agent's tasks).`)}
<main id="main" hidden>
  <p id="message" role="status"></p>
  <label><input id="show-ended" type="checkbox"> show ended tasks</label>
  <table id="tasks">
    <thead><tr><th>Title</th><th>Ticket</th><th>Agent</th><th>Targets</th><th>Scope</th><th>Status</th><th>Ends</th><th>Task</th></tr></thead>
    <tbody></tbody>
  </table>
  <p id="empty" hidden>No tasks.</p>
  <section id="task" hidden>
    <h2 id="task-title"></h2>
    <dl id="task-facts"></dl>
    <h3>Live sessions</h3>
    <ul id="task-sessions"></ul>
    <div id="task-review" hidden><button id="task-approve" type="button">Approve</button> <input id="task-deny-reason" type="text" placeholder="reason (required to deny)"> <button id="task-deny" type="button">Deny</button></div>
    <div id="task-close-row" hidden><input id="task-close-reason" type="text" placeholder="reason"> <button id="task-close" type="button">Close task</button></div>
  </section>
</main>
</body>
</html>
`;

const SCRIPT = `'use strict';
(function () {
  var C = window.AirlockConsole, $ = C.$, token = C.token, say = C.say, api = C.api, signOut = C.signOut;
  var current = null;
  function when(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : ''; }
  function failed(e) { if (e.status === 401) signOut('Your token was refused: sign in again.'); else say(e.message, true); }
  function cell(tr, text) { var td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td; }
  function open(id) { location.hash = 'task=' + encodeURIComponent(id); }
  function render(tasks) {
    var ended = $('show-ended').checked;
    var shown = tasks.filter(function (t) { return ended || t.status === 'pending' || t.status === 'active'; });
    $('tasks').querySelector('tbody').replaceChildren.apply($('tasks').querySelector('tbody'), shown.map(function (t) {
      var tr = document.createElement('tr'); tr.dataset.id = t.id;
      cell(tr, t.title); cell(tr, t.ticket || ''); cell(tr, t.principalId); cell(tr, t.targets.join(', '));
      cell(tr, t.scope.entries.join(', ')); cell(tr, t.status).className = 'status'; cell(tr, when(t.expiresAt));
      var td = document.createElement('td'); var b = document.createElement('button'); b.type = 'button'; b.className = 'open'; b.textContent = t.id;
      b.addEventListener('click', function () { open(t.id); }); td.appendChild(b); tr.appendChild(td);
      return tr;
    }));
    $('empty').hidden = shown.length > 0;
  }
  function refreshList() { return api('GET', '/api/tasks?all=1').then(function (j) { render(j.tasks); }); }
  // Where the figures were counted: this gateway, or (in a fleet) the shared ledger each proxy task adds to at every poll.
  function used(u, src) {
    if (src && src.source === 'fleet' && src.error) return 'unknown across the fleet (' + src.error + ')';
    var where = !src ? '' : src.source === 'fleet'
      ? ' — counted fleet-wide, added by each proxy task at every poll' + (src.pollSeconds !== undefined ? ' (≤ ' + src.pollSeconds + ' s behind)' : '')
      : ' — counted by this gateway';
    return 'statements ' + (u.statements || 0) + ', commands ' + (u.commands || 0) + ', requests ' + (u.requests || 0) + ', rows returned ' + (u.rowsReturned || 0) + ', rows affected ' + (u.rowsAffected || 0) + ', bytes read ' + (u.bytesRead || 0) + ', refusals ' + (u.refusals || 0) + ', sessions ' + (u.sessions || 0) + where;
  }
  function show(j) {
    var t = j.task; current = t;
    $('task-title').textContent = t.title + ' (' + t.status + ')';
    var u = t.usage || {};
    var facts = [['Task', t.id], ['Agent', t.principalId], ['Ticket', t.ticket || ''], ['Reason', t.reason || ''], ['Targets', t.targets.join(', ')],
      ['Scope', t.scope.entries.join(', ')], ['Opened', when(t.createdAt)], ['Granted', t.grantedAt ? when(t.grantedAt) + ' by ' + (t.grantedBy || '') : ''],
      ['Ends', when(t.expiresAt)], ['Ended', t.endedAt ? when(t.endedAt) + ' by ' + (t.endedBy || '') + ': ' + (t.endReason || '') : ''],
      ['Used', used(u, j.usageSource)],
      ['Review', t.reviewUrl || '']];
    var dl = $('task-facts'); dl.replaceChildren();
    facts.forEach(function (f) { if (!f[1]) return; var dt = document.createElement('dt'); dt.textContent = f[0]; var dd = document.createElement('dd'); dd.textContent = f[1]; dl.append(dt, dd); });
    $('task-sessions').replaceChildren.apply($('task-sessions'), (j.sessions || []).map(function (s) {
      var li = document.createElement('li'); li.textContent = [s.sessionId || s.id, s.protocol || '', s.target || ''].join(' '); return li;
    }));
    $('task-review').hidden = !(t.status === 'pending' && t.approvalId);
    $('task-close-row').hidden = !(t.status === 'pending' || t.status === 'active');
    $('task').hidden = false;
  }
  function openCurrent() {
    var id = (location.hash.match(/task=([^&]+)/) || [])[1];
    if (!id) { $('task').hidden = true; return Promise.resolve(); }
    return api('GET', '/api/tasks/' + id).then(show, failed);
  }
  function reload() { return refreshList().then(openCurrent); }
  function decide(verb, body) {
    if (!current || !current.approvalId) return;
    api('POST', '/api/approvals/' + encodeURIComponent(current.approvalId) + '/' + verb, body).then(function (j) {
      say(j.first ? 'Task ' + current.id + ' ' + j.approval.state + '.' : 'Already ' + j.approval.state + '.', !j.first);
      // The task service learns the decision from the approval; its status follows within a moment.
      setTimeout(function () { reload().catch(failed); }, 300);
    }, function (e) {
      if (e.status === 409 && current.reviewUrl) say('Decide at the review page: ' + current.reviewUrl, true); else failed(e);
    });
  }
  function signIn() {
    return api('GET', '/api/whoami').then(function (me) {
      $('who').textContent = 'signed in as ' + me.id;
      $('sign-in').hidden = true; $('main').hidden = false; $('sign-out').hidden = false;
      return reload();
    }, function (e) { signOut(e.message); });
  }
  document.addEventListener('DOMContentLoaded', function () {
    C.start(signIn);
    $('show-ended').addEventListener('change', function () { refreshList().catch(failed); });
    window.addEventListener('hashchange', function () { if (token()) openCurrent(); });
    $('task-approve').addEventListener('click', function () { decide('approve', { scope: 'once' }); });
    $('task-deny').addEventListener('click', function () { decide('deny', { reason: $('task-deny-reason').value }); });
    $('task-close').addEventListener('click', function () {
      api('POST', '/api/tasks/' + encodeURIComponent(current.id) + '/close', { reason: $('task-close-reason').value || 'closed from the console' })
        .then(function (j) { say('Task ' + j.task.id + ' ' + j.task.status + '.'); return reload(); }, failed);
    });
    setInterval(function () { if (token()) refreshList().catch(function () {}); }, 5000);
  });
})();
`;

export function tasksPageRoutes(): ConsoleRoute[] {
  return [
    { method: 'GET', path: '/tasks', handler: ({ res }) => send(res, 200, 'text/html; charset=utf-8', HTML) },
    { method: 'GET', path: '/tasks.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', SCRIPT) },
  ];
}
