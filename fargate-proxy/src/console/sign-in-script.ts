// Reviewers' browser sign-in, browser side (authorization code + PKCE, S256, with WebCrypto). The
// verifier and state live in this tab's sessionStorage between leaving for the issuer and coming
// back; the access token is kept there too and is only ever sent as a bearer header. The code comes
// back in the callback URL (that is the protocol), is useless without the verifier, and is dropped
// from the address bar and history at once. Served by the console as /console-signin.js and inlined
// (with a nonce) by the decision Lambda's review page.

/** Where the pages keep the token: one key for the console's pages, one for the e-mail review page. */
export const TOKEN_KEYS = { console: 'airlock.token', review: 'airlock.review.token' } as const;

export const SIGN_IN_SCRIPT = `'use strict';
window.AirlockSignIn = (function () {
  var PENDING = 'airlock.signin';
  var KEYS = ${JSON.stringify(Object.values(TOKEN_KEYS))};
  function b64url(bytes) {
    var s = ''; for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  function random(n) { var a = new Uint8Array(n); crypto.getRandomValues(a); return b64url(a); }
  function available() { return !!(window.crypto && crypto.subtle && window.sessionStorage); }
  /** Leaves for the issuer; comes back to base + 'signin', then to returnTo (a path on this origin). */
  function start(base, tokenKey, returnTo) {
    if (!available()) return Promise.reject(new Error('browser sign-in needs a secure context (HTTPS, or http://127.0.0.1)'));
    var verifier = random(32), state = random(16);
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)).then(function (d) {
      sessionStorage.setItem(PENDING, JSON.stringify({ verifier: verifier, state: state, tokenKey: tokenKey, returnTo: returnTo }));
      location.assign(base + 'signin/start?' + new URLSearchParams({ code_challenge: b64url(new Uint8Array(d)), state: state }));
    });
  }
  function safePath(p) { return typeof p === 'string' && p.charAt(0) === '/' && p.charAt(1) !== '/' && p.charAt(1) !== '\\\\' ? p : '/'; }
  /** On the callback page: checks state, trades code + verifier for the token, goes back. */
  function finish(base) {
    var query = location.search.slice(1), got = new URLSearchParams(query);
    // Neither the code nor the state stays in the address bar or the history.
    history.replaceState(null, '', location.pathname);
    var pending = null;
    try { pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null'); } catch (e) { pending = null; }
    sessionStorage.removeItem(PENDING);
    if (got.get('error')) return Promise.reject(new Error('the identity provider refused: ' + got.get('error')));
    if (!pending || !pending.state || got.get('state') !== pending.state) return Promise.reject(new Error('this sign-in was not started from this tab: start again'));
    if (KEYS.indexOf(pending.tokenKey) < 0) return Promise.reject(new Error('unknown sign-in'));
    return fetch(base + 'signin/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callback: query, code_verifier: pending.verifier }) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; }); })
      .then(function (j) { sessionStorage.setItem(pending.tokenKey, j.access_token); location.replace(safePath(pending.returnTo)); });
  }
  return { start: start, finish: finish, available: available };
})();
`;

/** Run on the callback page after SIGN_IN_SCRIPT: finishes, or says why not. */
export const FINISH_SCRIPT = `'use strict';
document.addEventListener('DOMContentLoaded', function () {
  window.AirlockSignIn.finish(document.body.dataset.base || '/').catch(function (e) {
    var m = document.getElementById('message'); m.textContent = 'Sign-in failed: ' + e.message; m.className = 'error';
  });
});
`;

/**
 * The page the issuer sends the browser back to (`<base>signin`). `scriptTags` load SIGN_IN_SCRIPT
 * then FINISH_SCRIPT; `base` is the path the sign-in routes live under (ends with '/').
 */
export function callbackPage(scriptTags: string, base: string): string {
  const attr = base.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock sign-in</title>${scriptTags}</head>
<body data-base="${attr}"><p id="message" role="status">Signing in…</p><p><a href="${attr}">Back</a></p></body></html>`;
}
