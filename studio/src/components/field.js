import { html } from '../html.js';

/** A labelled input with its error message right below it (linked for screen readers). */
export function Field({ id, label, error, hint, children }) {
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  return html`<div class=${`field${error ? ' field-invalid' : ''}`}>
    <label for=${id}>${label}</label>
    ${children({ id, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': described })}
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${error && html`<p class="field-error" id=${`${id}-error`}><span aria-hidden="true">⚠ </span>${error}</p>`}
  </div>`;
}

/** A page-level message: role=status for news, role=alert for errors. */
export function Notice({ kind = 'info', children }) {
  if (!children) return null;
  return html`<div class=${`notice notice-${kind}`} role=${kind === 'error' ? 'alert' : 'status'}>${children}</div>`;
}
