import { html } from '../html.js';
import { STATUS_LABELS } from '../format.js';

const ICONS = { queued: '◷', processing: '↻', ready: '✓', failed: '✕' };

/** The status as words (and a symbol), never only a colour; progress while processing. */
export function StatusBadge({ video }) {
  const label = STATUS_LABELS[video.status] || video.status;
  const percent = video.status === 'processing' ? ` ${Math.floor(video.progress)}%` : '';
  return html`<span class=${`status status-${video.status}`} data-status=${video.status}>
    <span aria-hidden="true">${ICONS[video.status] || '•'} </span>${label}${percent}
  </span>`;
}

export function Progress({ video }) {
  if (video.status !== 'processing') return null;
  return html`<progress class="progress" max="100" value=${video.progress} aria-label="Transcoding progress">
    ${Math.floor(video.progress)}%
  </progress>`;
}
