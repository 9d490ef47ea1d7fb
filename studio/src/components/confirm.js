import { useEffect, useRef } from 'preact/hooks';
import { html } from '../html.js';

/** A modal question (the browser's <dialog>: focus stays inside, Escape cancels). */
export function ConfirmDialog({ open, title, children, confirmLabel, onConfirm, onCancel, busy }) {
  const dialog = useRef(null);
  useEffect(() => {
    const element = dialog.current;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);
  return html`<dialog ref=${dialog} class="dialog" aria-labelledby="dialog-title" onCancel=${onCancel}>
    <h2 id="dialog-title">${title}</h2>
    ${children}
    <div class="actions">
      <button type="button" class="button danger" onClick=${onConfirm} disabled=${busy}>${confirmLabel}</button>
      <button type="button" class="button" onClick=${onCancel} disabled=${busy} autofocus>Cancel</button>
    </div>
  </dialog>`;
}
