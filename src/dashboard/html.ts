/** The two server-rendered pages: the login form and the shell the client mounts into. No inline script (CSP). */

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function loginPage(error: string | null): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>funnelwatch — log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login"><main>
<h1>funnelwatch</h1>
<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<p class="hint">The token the API takes (FW_INGEST_TOKEN). The session lasts 12 hours.</p>
</form></main></body></html>`;
}

/** `access`: how this visitor got in, so the client can offer writes only to a logged-in session. */
export function shellPage(version: string, access: string, problem: string | null): string {
  const v = encodeURIComponent(version);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>funnelwatch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="fw-access" content="${esc(access)}">
<link rel="stylesheet" href="/assets/uplot.css?v=${v}">
<link rel="stylesheet" href="/assets/app.css?v=${v}"></head>
<body><div id="app">${problem ? `<p class="error">${esc(problem)}</p>` : ''}</div>
<script type="module" src="/assets/app.js?v=${v}"></script></body></html>`;
}
