// One video: live status, the preview, its details, its thumbnail, transcode again and delete.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { api } from '../api.js';
import { go } from '../router.js';
import { dateTime, duration, isBusy, size } from '../format.js';
import { BUSY_POLL_MS, usePolling } from '../polling.js';
import { ConfirmDialog } from '../components/confirm.js';
import { Field, Notice } from '../components/field.js';
import { Player } from '../components/player.js';
import { Progress, StatusBadge } from '../components/status.js';

export function VideoPage({ id, onDeleted }) {
  const [video, setVideo] = useState(null);
  const [error, setError] = useState('');
  const [missing, setMissing] = useState(false);
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState('');
  const [confirming, setConfirming] = useState(false);
  const playhead = useRef(0);

  const load = async () => {
    const { data } = await api.video(id);
    setVideo(data);
    setError('');
  };
  useEffect(() => {
    setVideo(null);
    setMissing(false);
    load().catch((failure) => (failure.status === 404 ? setMissing(true) : setError(failure.message)));
  }, [id]);
  usePolling(video && isBusy(video) ? BUSY_POLL_MS : null, load);

  if (missing) {
    return html`<section>
      <p><a href="#/videos">← All videos</a></p>
      <h1>Video not found</h1>
      <p>There is no video ${id}. It may have been deleted.</p>
    </section>`;
  }
  if (!video) {
    return html`<section><${Notice} kind="error">${error}<//>${!error && html`<p class="muted" role="status">Loading…</p>`}</section>`;
  }

  const act = async (name, action, done) => {
    setBusy(name);
    setError('');
    setNotice('');
    try {
      const { data } = await action();
      if (data && data.id) setVideo(data);
      if (done) setNotice(done);
    } catch (failure) {
      setError(failure.message);
    } finally {
      setBusy('');
    }
  };
  const remove = async () => {
    setBusy('delete');
    try {
      await api.remove(video.id);
      setConfirming(false);
      onDeleted(`“${video.title}” was deleted.`);
      go('#/videos');
    } catch (failure) {
      setConfirming(false);
      setError(failure.message);
    } finally {
      setBusy('');
    }
  };

  const failed = video.status === 'failed';
  const playable = video.renditions.length > 0 && !failed;
  return html`<article aria-labelledby="video-title">
    <p class="crumbs"><a href="#/videos">← All videos</a></p>
    <div class="page-head">
      <h1 id="video-title">${video.title}</h1>
      <div class="status-line" aria-live="polite">
        <${StatusBadge} video=${video} />
        <${Progress} video=${video} />
      </div>
    </div>
    ${failed && html`<div class="notice notice-error" role="alert">
      <strong>Transcoding failed.</strong> ${video.failure_reason || 'No reason was recorded.'}
    </div>`}
    ${!failed && video.failure_reason && html`<div class="notice notice-warning">${video.failure_reason}</div>`}
    <${Notice} kind="success">${notice}<//>
    <${Notice} kind="error">${error}<//>

    <div class="detail-grid">
      <section class="card" aria-labelledby="preview-title">
        <h2 id="preview-title">Preview</h2>
        ${playable
          ? html`<${Player} video=${video} onTime=${(t) => (playhead.current = t)} />`
          : html`<p class="player-empty">${
              failed ? 'Nothing to play: the video failed.' : 'The preview appears when transcoding is done.'
            }</p>`}
        <dl class="facts">
          <div><dt>Duration</dt><dd>${duration(video.duration)}</dd></div>
          <div><dt>Qualities</dt><dd>${video.renditions.map((r) => r.name).join(', ') || '–'}</dd></div>
          <div><dt>Source size</dt><dd>${size(video.source_size)}</dd></div>
          <div><dt>Added</dt><dd>${dateTime(video.created_at)}</dd></div>
          <div><dt>Changed</dt><dd>${dateTime(video.updated_at)}</dd></div>
        </dl>
        <div class="actions">
          ${failed
            ? html`<button type="button" class="button primary" disabled=${busy} onClick=${() =>
                act('transcode', () => api.transcode(video.id), 'Queued again.')}>Retry</button>`
            : html`<button type="button" class="button" disabled=${busy || isBusy(video)} onClick=${() =>
                act('transcode', () => api.transcode(video.id), 'Queued again: the current version stays online until the new one is ready.')}>
                Transcode again
              </button>`}
          <button type="button" class="button danger" disabled=${busy} onClick=${() => setConfirming(true)}>Delete</button>
        </div>
      </section>

      <div class="stack">
        <${DetailsForm} video=${video} onSaved=${(data) => { setVideo(data); setNotice('Saved.'); setError(''); }} />
        <${ThumbnailForms} video=${video} playhead=${playhead} onChanged=${(data, message) => { setVideo(data); setNotice(message); setError(''); }} />
      </div>
    </div>

    <${ConfirmDialog}
      open=${confirming}
      title=${`Delete “${video.title}”?`}
      confirmLabel=${busy === 'delete' ? 'Deleting…' : 'Delete'}
      busy=${busy === 'delete'}
      onConfirm=${remove}
      onCancel=${() => setConfirming(false)}
    >
      <p>The video, all its qualities and its thumbnail are removed for good. A running transcode is stopped.</p>
    <//>
  </article>`;
}

function DetailsForm({ video, onSaved }) {
  const [values, setValues] = useState({ title: video.title, description: video.description, category: video.category });
  const [errors, setErrors] = useState({});
  const [saving, setSaving] = useState(false);
  const [categories, setCategories] = useState([]);
  useEffect(() => {
    setValues({ title: video.title, description: video.description, category: video.category });
  }, [video.id]);
  useEffect(() => {
    api.categories().then(({ data }) => setCategories(data), () => {});
  }, []);

  const set = (name) => (event) => setValues({ ...values, [name]: event.currentTarget.value });
  const save = async (event) => {
    event.preventDefault();
    setSaving(true);
    setErrors({});
    try {
      const { data } = await api.update(video.id, values);
      setValues({ title: data.title, description: data.description, category: data.category });
      onSaved(data);
    } catch (failure) {
      // The server names the field it refused; anything else goes under the form.
      setErrors(failure.field && failure.field in values ? { [failure.field]: failure.message } : { form: failure.message });
    } finally {
      setSaving(false);
    }
  };

  return html`<form class="card" onSubmit=${save} aria-labelledby="details-title" novalidate>
    <h2 id="details-title">Details</h2>
    <${Field} id="title" label="Title" error=${errors.title}>
      ${(props) => html`<input ...${props} value=${values.title} onInput=${set('title')} />`}
    <//>
    <${Field} id="description" label="Description" error=${errors.description}>
      ${(props) => html`<textarea ...${props} rows="4" value=${values.description} onInput=${set('description')}></textarea>`}
    <//>
    <${Field} id="category" label="Category" error=${errors.category} hint="Pick one in use or type a new one.">
      ${(props) => html`<input ...${props} list="category-names" value=${values.category} onInput=${set('category')} />`}
    <//>
    <datalist id="category-names">${categories.map((c) => html`<option value=${c.name} />`)}</datalist>
    ${errors.form && html`<p class="field-error" role="alert">${errors.form}</p>`}
    <div class="actions"><button type="submit" class="button primary" disabled=${saving}>${saving ? 'Saving…' : 'Save'}</button></div>
  </form>`;
}

function ThumbnailForms({ video, playhead, onChanged }) {
  const [file, setFile] = useState(null);
  const [seconds, setSeconds] = useState('');
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState('');
  const fileInput = useRef(null);
  const max = video.duration || 0;

  const run = async (name, action, message) => {
    setBusy(name);
    setErrors({});
    try {
      const { data } = await action();
      onChanged(data, message);
      return true;
    } catch (failure) {
      setErrors({ [name]: failure.message });
      return false;
    } finally {
      setBusy('');
    }
  };
  const upload = async (event) => {
    event.preventDefault();
    if (!file) {
      setErrors({ thumbnail: 'Choose an image first.' });
      return;
    }
    if (await run('thumbnail', () => api.uploadThumbnail(video.id, file), 'The thumbnail was replaced.')) {
      setFile(null);
      fileInput.current.value = '';
    }
  };
  const useFrame = (event) => {
    event.preventDefault();
    const value = Number(seconds);
    if (seconds === '' || Number.isNaN(value)) {
      setErrors({ seconds: 'Enter a time in seconds, for example 12.5.' });
      return;
    }
    run('seconds', () => api.thumbnailFromFrame(video.id, value), `The frame at ${value} s is the thumbnail now.`);
  };

  return html`<section class="card" aria-labelledby="thumbnail-title">
    <h2 id="thumbnail-title">Thumbnail</h2>
    ${video.thumbnail_url
      ? html`<img class="poster" src=${video.thumbnail_url} alt=${`Current thumbnail of ${video.title}`} />`
      : html`<p class="muted">No thumbnail yet: one is taken from the video when it is transcoded.</p>`}
    <form onSubmit=${upload} class="inline-form" novalidate>
      <${Field} id="thumbnail" label="Thumbnail" error=${errors.thumbnail} hint="An image (JPEG, PNG, WebP); it is stored as a 640 px wide JPEG.">
        ${(props) => html`<input ...${props} ref=${fileInput} type="file" accept="image/*" onChange=${(e) => setFile(e.currentTarget.files[0] || null)} />`}
      <//>
      <button type="submit" class="button" disabled=${busy}>${busy === 'thumbnail' ? 'Uploading…' : 'Upload'}</button>
    </form>
    <form onSubmit=${useFrame} class="inline-form" novalidate>
      <${Field} id="seconds" label="Frame at (seconds)" error=${errors.seconds} hint=${max ? `From 0 to ${max.toFixed(1)}.` : undefined}>
        ${(props) => html`<input ...${props} type="number" inputmode="decimal" min="0" max=${max || undefined} step="0.1"
          value=${seconds} onInput=${(e) => setSeconds(e.currentTarget.value)} />`}
      <//>
      <div class="actions">
        <button type="button" class="button subtle" disabled=${video.renditions.length === 0}
          onClick=${() => setSeconds(String(Math.round(playhead.current * 10) / 10))}>Use the preview's time</button>
        <button type="submit" class="button" disabled=${busy}>${busy === 'seconds' ? 'Taking the frame…' : 'Use this frame'}</button>
      </div>
    </form>
  </section>`;
}
