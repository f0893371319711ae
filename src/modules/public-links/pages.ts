/**
 * The HTML pages behind unsubscribe and preferences links: small, self-contained (inline style,
 * no scripts, no external assets), and every interpolated value HTML-escaped. Forms post back to
 * the page's own URL (no `action`), so the pages work behind any path prefix.
 */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1f2328;margin:0;padding:2rem 1rem}
main{max-width:32rem;margin:0 auto;background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:1.5rem 2rem}
h1{font-size:1.35rem;margin:0 0 1rem}p{line-height:1.5}
button{font:inherit;background:#1f6feb;color:#fff;border:0;border-radius:6px;padding:.55rem 1.2rem;cursor:pointer}
fieldset{border:0;padding:0;margin:0 0 1.2rem}label{display:block;padding:.35rem 0}
.note{color:#57606a;font-size:.9rem}.ok{color:#1a7f37}`;

/** A complete document; `body` is trusted markup built by the functions below. */
function document(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

function groupLabel(groupName: string | null): string {
  return groupName === null ? 'this list' : `<strong>${escapeHtml(groupName)}</strong>`;
}

/** GET /unsubscribe/{token}: asks for confirmation; link scanners that only GET change nothing. */
export function unsubscribeConfirmPage(groupName: string | null, preferencesPath: string): string {
  return document(
    'Unsubscribe',
    `<h1>Unsubscribe</h1>
<p>Do you want to stop receiving emails from ${groupLabel(groupName)}?</p>
<form method="post"><input type="hidden" name="confirm" value="1"><button type="submit">Unsubscribe</button></form>
<p class="note"><a href="${escapeHtml(preferencesPath)}">Manage all email preferences</a></p>`,
  );
}

/** POST /unsubscribe/{token}: the same page whether or not anything changed (idempotent). */
export function unsubscribedPage(groupName: string | null, preferencesPath: string): string {
  return document(
    'Unsubscribed',
    `<h1>You are unsubscribed</h1>
<p class="ok">You will no longer receive emails from ${groupLabel(groupName)}.</p>
<p class="note"><a href="${escapeHtml(preferencesPath)}">Manage all email preferences</a></p>`,
  );
}

export interface PreferenceItem {
  id: string;
  name: string;
  subscribed: boolean;
}

/** GET and POST /preferences/{token}: every group as a checkbox with the effective status. */
export function preferencesPage(items: PreferenceItem[], saved: boolean): string {
  const boxes = items
    .map((item) => `<label><input type="checkbox" name="group" value="${escapeHtml(item.id)}"${item.subscribed ? ' checked' : ''}> ${escapeHtml(item.name)}</label>`)
    .join('\n');
  const form =
    items.length === 0
      ? '<p>There are no email lists to manage.</p>'
      : `<form method="post">\n<fieldset><legend>Send me emails about:</legend>\n${boxes}\n</fieldset>\n<button type="submit">Save preferences</button>\n</form>`;
  return document('Email preferences', `<h1>Email preferences</h1>\n${saved ? '<p class="ok">Your preferences have been saved.</p>\n' : ''}${form}`);
}

/** Preferences of a Profile that no longer exists (erased): nothing to show or change. */
export function noPreferencesPage(): string {
  return document('Email preferences', `<h1>Email preferences</h1>\n<p>There are no email preferences to manage for this address.</p>`);
}

/** A forged, malformed or mismatched token (400). */
export function invalidLinkPage(): string {
  return document('Invalid link', `<h1>This link is not valid</h1>\n<p>It may have been copied incompletely. Please use the link from the email exactly as it was sent.</p>`);
}
