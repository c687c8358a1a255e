// The page an e-mail link opens. GET shows nothing about the request and decides nothing (link
// scanners follow GETs); the reviewer signs in (at the identity provider, authorization code + PKCE,
// or by pasting a token) and every read or decision is a POST carrying the token as a bearer header.
import { randomBytes } from 'node:crypto';
import { escapeHtml } from '../../core/approval/index.js';
import { FINISH_SCRIPT, SIGN_IN_SCRIPT, TOKEN_KEYS, callbackPage } from '../../fargate-proxy/src/console/sign-in-script.js';

function nonceCsp(): { nonce: string; csp: string } {
  const nonce = randomBytes(16).toString('base64');
  return { nonce, csp: `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'` };
}

/** Where the identity provider sends the reviewer back (`<base>signin`): trades the code, returns to the request. */
export function signInCallbackPage(basePath: string): { body: string; csp: string } {
  const { nonce, csp } = nonceCsp();
  return { body: callbackPage(`<script nonce="${nonce}">${SIGN_IN_SCRIPT}</script><script nonce="${nonce}">${FINISH_SCRIPT}</script>`, basePath), csp };
}

export function reviewPage(requestId: string, opts: { signIn?: boolean; basePath?: string } = {}): { body: string; csp: string } {
  const { nonce, csp } = nonceCsp();
  const base = opts.basePath ?? '/';
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock review</title>
<style nonce="${nonce}">body{font-family:system-ui,sans-serif;margin:2rem}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}.error{color:#a00}</style></head>
<body data-request-id="${escapeHtml(requestId)}" data-base="${escapeHtml(base)}"${opts.signIn ? ' data-sign-in="1"' : ''}>
<h1>Airlock approval request</h1>
<section id="sign-in">${opts.signIn ? '<p><button id="sign-in-oauth" type="button">Sign in with your identity provider</button></p><p>Or paste an access token from the identity provider.' : '<p>Sign in: paste your access token from the identity provider.'} It stays in this tab only.</p>
<textarea id="token" rows="4" cols="80"></textarea><br><button id="go" type="button">Sign in</button></section>
<section id="request" hidden><dl id="facts"></dl><pre id="statement"></pre>
<p><button id="approve" type="button">Approve</button> <select id="scope"><option value="once">once</option><option value="shape">this statement shape for</option><option value="session">this session for</option></select>
<input id="minutes" type="number" value="15" min="1" max="1440"> min</p>
<p><input id="reason" type="text" placeholder="reason (required to deny)"> <button id="deny" type="button">Deny</button></p></section>
<p id="message" role="status"></p>
<script nonce="${nonce}">${SIGN_IN_SCRIPT}</script>
<script nonce="${nonce}">
(function () {
  var id = document.body.dataset.requestId, KEY = '${TOKEN_KEYS.review}';
  var $ = function (x) { return document.getElementById(x); };
  function say(t, e) { $('message').textContent = t; $('message').className = e ? 'error' : ''; }
  function post(body) {
    return fetch(location.pathname, { method: 'POST', headers: { authorization: 'Bearer ' + sessionStorage.getItem(KEY), 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; }); });
  }
  function show(a) {
    var dl = $('facts'); dl.replaceChildren();
    [['State', a.state], ['Requester', a.requester], ['Target', a.target + ' (' + a.environment + ')'], ['Class', a.statementClass], ['Policy', a.policyIds.join(', ')], ['Agent\\'s reason', a.agentReason || ''], ['Decided by', a.reviewer || '']]
      .forEach(function (f) { var dt = document.createElement('dt'); dt.textContent = f[0]; var dd = document.createElement('dd'); dd.textContent = f[1]; dl.append(dt, dd); });
    $('statement').textContent = a.statement;
    $('sign-in').hidden = true; $('request').hidden = false;
  }
  function decide(body) { post(body).then(function (j) { show(j.approval); say(j.first ? 'Recorded: ' + j.approval.state + '.' : 'Already ' + j.approval.state + '.', !j.first); }, function (e) { say(e.message, true); }); }
  $('go').addEventListener('click', function () { sessionStorage.setItem(KEY, $('token').value.trim()); $('token').value = ''; post({ action: 'view' }).then(function (j) { show(j.approval); }, function (e) { say(e.message, true); }); });
  $('approve').addEventListener('click', function () { var b = { action: 'approve', scope: $('scope').value }; if (b.scope !== 'once') b.minutes = Number($('minutes').value); decide(b); });
  $('deny').addEventListener('click', function () { decide({ action: 'deny', reason: $('reason').value }); });
  if (document.body.dataset.signIn) $('sign-in-oauth').addEventListener('click', function () {
    window.AirlockSignIn.start(document.body.dataset.base, KEY, location.pathname).catch(function (e) { say(e.message, true); });
  });
  if (sessionStorage.getItem(KEY)) post({ action: 'view' }).then(function (j) { show(j.approval); }, function () {});
})();
</script></body></html>`;
  return { body, csp };
}
