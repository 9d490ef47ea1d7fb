// Operations: is everything up (readiness), what waits and runs in the queue, the email outbox, and what failed
// (transcodes and emails, with their reason and a Retry button). It refreshes itself while open.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { api } from '../api.js';
import { STATUS_LABELS, dateTime } from '../format.js';
import { BUSY_POLL_MS, IDLE_POLL_MS, usePolling } from '../polling.js';
import { Notice } from '../components/field.js';

const JOB_LABELS = { deliver_email: 'Emails', transcode_video: 'Transcodes', sweep: 'Sweep', housekeeping: 'Housekeeping' };
const EMAIL_LABELS = { pending: 'Waiting to be sent', sent: 'Sent', failed: 'Failed', retried: 'Sent again', cancelled: 'No longer needed' };
const KIND_LABELS = { activation: 'Activation', password_reset: 'Password reset', other: 'Other', unknown: 'Unknown' };

export function Operations() {
  const [state, setState] = useState(null); // { overview, failedVideos, failedEmails, at }
  const [error, setError] = useState('');

  const load = async () => {
    const [overview, videos, emails] = await Promise.all([
      api.operations(),
      api.videos({ status: 'failed', page_size: 50 }),
      api.emails('failed'),
    ]);
    setState({ overview: overview.data, failedVideos: videos.data, failedEmails: emails.data, at: new Date() });
    setError('');
  };
  const reload = () => load().catch((failure) => setError(failure.message));
  useEffect(() => {
    reload();
  }, []);
  const busy = state && (Object.values(state.overview.queue.jobs).some((j) => j.queued || j.running) || state.overview.emails.pending);
  usePolling(busy ? BUSY_POLL_MS : IDLE_POLL_MS, load);

  if (!state) {
    return html`<section><h1>Operations</h1><${Notice} kind="error">${error}<//>
      ${!error && html`<p class="muted" role="status">Loading…</p>`}</section>`;
  }
  const { overview, failedVideos, failedEmails } = state;
  return html`<section aria-labelledby="operations-title">
    <div class="page-head">
      <h1 id="operations-title">Operations</h1>
      <p class="muted">Updated ${state.at.toLocaleTimeString()}; this page refreshes itself.</p>
    </div>
    <${Notice} kind="error">${error}<//>
    <div class="ops-grid">
      <${Readiness} readiness=${overview.readiness} />
      <${Queue} queue=${overview.queue} />
      <${Counts} id="outbox" title="Email outbox" counts=${overview.emails} labels=${EMAIL_LABELS}
        lead=${`Backlog: ${overview.emails.pending || 0} waiting to be sent`} />
      <${Counts} id="video-counts" title="Videos" counts=${overview.videos} labels=${STATUS_LABELS} />
    </div>
    <${FailedTranscodes} videos=${failedVideos} onRetried=${reload} />
    <${FailedEmails} emails=${failedEmails} onRetried=${reload} />
  </section>`;
}

function Readiness({ readiness }) {
  const ready = readiness.status === 'ready';
  return html`<section class="card" aria-labelledby="readiness-title">
    <h2 id="readiness-title">Readiness</h2>
    <p class=${`status ${ready ? 'status-ready' : 'status-failed'}`}>${ready ? '✓ Ready' : '✕ Not ready'}</p>
    <dl class="checks">
      ${Object.entries(readiness.checks).map(([name, answer]) => html`<div data-check=${name}>
        <dt>${name}</dt><dd class=${answer === 'ok' ? '' : 'check-bad'}>${answer}</dd>
      </div>`)}
    </dl>
  </section>`;
}

function Queue({ queue }) {
  return html`<section class="card" aria-labelledby="queue-title">
    <h2 id="queue-title">Job queue</h2>
    ${!queue.available && html`<p class="field-error" role="alert">The queue cannot be read: ${queue.error || 'no answer'}</p>`}
    <table class="compact">
      <thead><tr><th scope="col">Job</th><th scope="col">Waiting</th><th scope="col">Running</th></tr></thead>
      <tbody>${Object.entries(queue.jobs).map(([job, counts]) => html`<tr data-job=${job}>
        <th scope="row">${JOB_LABELS[job] || job}</th><td>${counts.queued}</td><td>${counts.running}</td>
      </tr>`)}</tbody>
    </table>
    ${queue.running.length > 0 && html`<h3>Running now</h3><ul class="running">
      ${queue.running.map((job) => html`<li>${JOB_LABELS[job.job] || job.job} <span class="muted">${job.key}${
        job.started_at ? `, since ${dateTime(job.started_at)}` : ''}</span></li>`)}
    </ul>`}
  </section>`;
}

function Counts({ id, title, counts, labels, lead }) {
  const entries = Object.entries(counts);
  return html`<section class="card" aria-labelledby=${`${id}-title`}>
    <h2 id=${`${id}-title`}>${title}</h2>
    ${lead && html`<p class="ops-lead">${lead}</p>`}
    ${entries.length === 0 ? html`<p class="muted">None yet.</p>` : html`<dl class="checks">
      ${entries.map(([status, count]) => html`<div data-count=${status}><dt>${labels[status] || status}</dt><dd>${count}</dd></div>`)}
    </dl>`}
  </section>`;
}

/** A Retry button per row, with the answer (or the refusal) in words next to it. */
function useRetry(onRetried) {
  const [results, setResults] = useState({}); // id -> { kind, text }
  const [busy, setBusy] = useState(null);
  const retry = async (id, call, done) => {
    setBusy(id);
    try {
      const { data } = await call();
      setResults((r) => ({ ...r, [id]: { kind: 'success', text: done(data) } }));
      onRetried();
    } catch (failure) {
      setResults((r) => ({ ...r, [id]: { kind: 'error', text: failure.message } }));
    } finally {
      setBusy(null);
    }
  };
  return { results, busy, retry };
}

function Result({ result }) {
  if (!result) return null;
  const error = result.kind === 'error';
  return html`<p class=${error ? 'field-error' : 'row-success'} role=${error ? 'alert' : 'status'}>${result.text}</p>`;
}

function FailedTranscodes({ videos, onRetried }) {
  const { results, busy, retry } = useRetry(onRetried);
  const gone = Object.keys(results).map(Number).filter((id) => !videos.some((v) => v.id === id));
  return html`<section class="card ops-section" aria-labelledby="failed-videos-title">
    <h2 id="failed-videos-title">Failed transcodes</h2>
    ${videos.length === 0 && gone.length === 0 && html`<p class="muted">None.</p>`}
    <ul class="failures">
      ${videos.map((video) => html`<li key=${video.id} data-video-id=${video.id}>
        <div>
          <a href=${`#/videos/${video.id}`}><strong>${video.title}</strong></a>
          <p class="failure-reason">${video.failure_reason || 'No reason was recorded.'}</p>
          <${Result} result=${results[video.id]} />
        </div>
        <button type="button" class="button primary" disabled=${busy === video.id} aria-label=${`Retry: ${video.title}`}
          onClick=${() => retry(video.id, () => api.transcode(video.id), () => `“${video.title}” is queued again.`)}>Retry</button>
      </li>`)}
      ${gone.map((id) => html`<li key=${id} class="retried"><${Result} result=${results[id]} /></li>`)}
    </ul>
  </section>`;
}

function FailedEmails({ emails, onRetried }) {
  const { results, busy, retry } = useRetry(onRetried);
  const done = (data) =>
    data.outcome === 'resent' ? 'Sent again (a fresh link where it had one).' : `Not sent: no longer needed (${data.reason}).`;
  const gone = Object.keys(results).map(Number).filter((id) => !emails.some((e) => e.id === id));
  return html`<section class="card ops-section" aria-labelledby="failed-emails-title">
    <h2 id="failed-emails-title">Failed emails</h2>
    ${emails.length === 0 && gone.length === 0 && html`<p class="muted">None.</p>`}
    <ul class="failures">
      ${emails.map((email) => html`<li key=${email.id} data-email-id=${email.id}>
        <div>
          <strong>${email.recipient}</strong> <span class="muted">· ${KIND_LABELS[email.kind] || email.kind} · ${email.subject}</span>
          <p class="failure-reason">${email.last_error || 'No reason was recorded.'}
            <span class="muted"> (${email.attempts} ${email.attempts === 1 ? 'attempt' : 'attempts'}, ${dateTime(email.created_at)})</span></p>
          <${Result} result=${results[email.id]} />
        </div>
        <button type="button" class="button primary" disabled=${busy === email.id} aria-label=${`Retry: email to ${email.recipient}`}
          onClick=${() => retry(email.id, () => api.retryEmail(email.id), done)}>Retry</button>
      </li>`)}
      ${gone.map((id) => html`<li key=${id} class="retried"><${Result} result=${results[id]} /></li>`)}
    </ul>
  </section>`;
}
