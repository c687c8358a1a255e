// The browser code every console page shares: the bearer token kept in this tab's sessionStorage
// (one key, so one sign-in serves every page), the JSON API call, sign-in and sign-out. Served as
// /console-common.js and loaded (deferred) after /console-signin.js and before each page's own
// script; the CSP forbids inline script.
import { TOKEN_KEYS } from './sign-in-script.js';

export const COMMON_SCRIPT = `'use strict';
window.AirlockConsole = (function () {
  var KEY = '${TOKEN_KEYS.console}';
  var $ = function (id) { return document.getElementById(id); };
  function token() { return sessionStorage.getItem(KEY); }
  function say(text, isError) { var m = $('message'); m.textContent = text; m.className = isError ? 'error' : ''; }
  function api(method, path, body) {
    var init = { method: method, headers: { authorization: 'Bearer ' + token() } };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) { var e = new Error(j.error || r.statusText); e.status = r.status; throw e; } return j; });
    });
  }
  function signOut(why) {
    sessionStorage.removeItem(KEY);
    $('sign-in').hidden = false; $('main').hidden = true; $('sign-out').hidden = true;
    $('who').textContent = why || 'not signed in';
  }
  /**
   * Wires the sign-in form and the sign-out button; signs in at once when this tab keeps a token.
   * Offers the identity provider's sign-in (authorization code + PKCE) when the console has one.
   */
  function start(signIn) {
    fetch('/signin/config').then(function (r) { return r.json(); }).then(function (c) {
      if (!c.enabled || !window.AirlockSignIn || !window.AirlockSignIn.available()) return;
      $('sign-in-oauth-row').hidden = false;
      $('sign-in-oauth').addEventListener('click', function () {
        window.AirlockSignIn.start('/', KEY, location.pathname + location.hash).catch(function (e) { $('who').textContent = e.message; });
      });
    }, function () {});
    $('sign-in-button').addEventListener('click', function () {
      sessionStorage.setItem(KEY, $('token').value.trim()); $('token').value = ''; signIn();
    });
    $('sign-out').addEventListener('click', function () { signOut(); });
    if (token()) signIn();
  }
  return { $: $, token: token, say: say, api: api, signOut: signOut, start: start };
})();
`;

/**
 * The sign-in section every page shows until a token is kept: the identity provider's sign-in
 * (shown by COMMON_SCRIPT when the console has one) and the pasted-token form. `pasteHint` is
 * trusted markup written here, never user input.
 */
export function signInSection(pasteHint: string): string {
  return `<section id="sign-in">
  <h2>Sign in</h2>
  <p id="sign-in-oauth-row" hidden><button id="sign-in-oauth" type="button">Sign in with your identity provider</button> (authorization code with PKCE; the token stays in this tab)</p>
  <p>Or paste an OIDC access token ${pasteHint} It is kept in this tab's session storage only and sent as a bearer header.</p>
  <textarea id="token" rows="4" cols="80" autocomplete="off" spellcheck="false"></textarea><br>
  <button id="sign-in-button" type="button">Sign in</button>
</section>`;
}
