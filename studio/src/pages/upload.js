// Upload: drop (or choose) one or several video files, give each a title, description, category and maybe a
// thumbnail, and send them resumably (uploads.js). Uploads that stopped (a dropped connection, a reload) are listed
// at the top: choosing the same file again goes on from the bytes the server has.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { api, sessionEnded } from '../api.js';
import { date, isBusy, percent, size, speed, timeLeft } from '../format.js';
import { BUSY_POLL_MS, usePolling } from '../polling.js';
import { Field } from '../components/field.js';
import { StatusBadge } from '../components/status.js';
import {
  createUpload,
  discardUpload,
  forgetUpload,
  previousUploads,
  serverOffset,
  speedMeter,
  unfinishedUploads,
} from '../uploads.js';

let nextKey = 1;
const FIELDS = ['title', 'description', 'category'];

export function Upload() {
  const [items, setItems] = useState([]); // [{ key, file, previous }]: previous, an unfinished upload to go on with
  const [categories, setCategories] = useState([]);
  const [unfinished, setUnfinished] = useState([]);
  const [resumed, setResumed] = useState({}); // card key -> storage key of the unfinished upload it took over
  const [dragging, setDragging] = useState(false);
  const [startAll, setStartAll] = useState(0);
  const [ready, setReady] = useState({}); // key -> true while a card waits for its Upload button

  const loadUnfinished = () => unfinishedUploads().then(setUnfinished, () => {});
  useEffect(() => {
    api.categories().then(({ data }) => setCategories(data), () => {});
    loadUnfinished();
  }, []);

  const add = (files, previous = null) => {
    const videos = [...files].map((file) => ({ key: nextKey++, file, previous }));
    setItems((current) => [...current, ...videos]);
  };
  const without = (key) => (current) => {
    const { [key]: _, ...rest } = current;
    return rest;
  };
  const remove = (key) => {
    setItems((current) => current.filter((item) => item.key !== key));
    setReady(without(key));
    setResumed(without(key));
    loadUnfinished();
  };
  const drop = (event) => {
    event.preventDefault();
    setDragging(false);
    if (event.dataTransfer.files.length) add(event.dataTransfer.files);
  };
  const waiting = Object.keys(ready).length;
  const taken = Object.values(resumed);
  const shownUnfinished = unfinished.filter((entry) => !taken.includes(entry.key));

  return html`<section aria-labelledby="upload-title">
    <div class="page-head"><h1 id="upload-title">Upload videos</h1></div>
    ${shownUnfinished.length > 0 &&
    html`<${Unfinished} entries=${shownUnfinished} onChosen=${(file, entry) => add([file], entry.previous)} onDiscarded=${loadUnfinished} />`}
    <div
      class=${`dropzone${dragging ? ' dropzone-active' : ''}`}
      onDragOver=${(e) => { e.preventDefault(); setDragging(true); }}
      onDragLeave=${() => setDragging(false)}
      onDrop=${drop}
    >
      <p class="dropzone-title" aria-hidden="true">Drop video files here</p>
      <div class="field">
        <label for="video-file">Video file</label>
        <input id="video-file" type="file" accept="video/*" multiple aria-describedby="video-file-hint"
          onChange=${(e) => { add(e.currentTarget.files); e.currentTarget.value = ''; }} />
        <p class="hint" id="video-file-hint">Drag and drop one or several files onto this box, or choose them here.
          Large files are sent in pieces: a dropped connection or a reload of this page loses nothing.</p>
      </div>
    </div>
    ${waiting > 1 && html`<div class="actions upload-all">
      <button type="button" class="button primary" onClick=${() => setStartAll((n) => n + 1)}>Upload all (${waiting})</button>
    </div>`}
    <ul class="upload-list" aria-label="Files to upload">
      ${items.map((item) => html`<${FileCard}
        key=${item.key}
        item=${item}
        startAll=${startAll}
        onReady=${(isReady) => setReady((current) => (isReady ? { ...current, [item.key]: true } : without(item.key)(current)))}
        onResumed=${(storageKey) => setResumed((current) => ({ ...current, [item.key]: storageKey }))}
        onRemove=${() => remove(item.key)}
      />`)}
    </ul>
    <datalist id="upload-categories">${categories.map((c) => html`<option value=${c.name} />`)}</datalist>
  </section>`;
}

/** The uploads this browser started and did not finish: choose the same file to go on. */
function Unfinished({ entries, onChosen, onDiscarded }) {
  const picker = useRef(null);
  const [choosing, setChoosing] = useState(null);
  const [errors, setErrors] = useState({});
  const choose = (entry) => {
    setChoosing(entry);
    setErrors({});
    picker.current.click();
  };
  const chosen = async (event) => {
    const [file] = event.currentTarget.files;
    event.currentTarget.value = '';
    if (!file || !choosing) return;
    const candidates = await previousUploads(file);
    if (candidates.some((previous) => previous.uploadUrl === choosing.url)) onChosen(file, choosing);
    else {
      setErrors({ [choosing.key]: `That is not the file this upload started with. Choose “${choosing.filename}” (same name, size and date).` });
    }
  };
  const discard = async (entry) => {
    try {
      await discardUpload(entry);
      onDiscarded();
    } catch (failure) {
      setErrors({ [entry.key]: failure.message });
    }
  };
  return html`<section class="card unfinished" aria-labelledby="unfinished-title">
    <h2 id="unfinished-title">Unfinished uploads</h2>
    <p class="muted">These uploads stopped before the end. Choose the same file again and the upload goes on from where
      it stopped: only the rest is sent.</p>
    <input ref=${picker} type="file" accept="video/*" class="visually-hidden" tabindex="-1" aria-hidden="true"
      data-testid="continue-file" onChange=${chosen} />
    <ul class="unfinished-list">
      ${entries.map((entry) => html`<li key=${entry.key} data-upload-url=${entry.url}>
        <div>
          <strong>${entry.title || entry.filename}</strong>
          <span class="muted"> · ${entry.filename}</span>
          <p class="unfinished-state">
            ${entry.offset === undefined
              ? `${size(entry.size)}; the server could not say how much of it arrived.`
              : `${size(entry.offset)} of ${size(entry.size)} on the server (${percent(entry.offset, entry.size)}%)`}
            ${entry.started && html`<span class="muted">, started ${date(entry.started)}</span>`}
          </p>
          ${errors[entry.key] && html`<p class="field-error" role="alert">${errors[entry.key]}</p>`}
        </div>
        <div class="actions">
          <button type="button" class="button primary" onClick=${() => choose(entry)}>Choose ${entry.filename} to continue</button>
          <button type="button" class="button subtle" onClick=${() => discard(entry)}>Discard</button>
        </div>
      </li>`)}
    </ul>
  </section>`;
}

function initialValues(file) {
  return { title: file.name.replace(/\.[^.]+$/, ''), description: '', category: '' };
}

/** One file: its details, then its progress, then a link to its video. */
function FileCard({ item, startAll, onReady, onResumed, onRemove }) {
  const { file, key } = item;
  const [phase, setPhase] = useState('checking'); // checking | ready | uploading | paused | stopped | refused | done
  const [values, setValues] = useState(() => initialValues(file));
  const [errors, setErrors] = useState({});
  const [progress, setProgress] = useState(null); // { sent, total, speed, left }
  const [resume, setResume] = useState(null); // { previous, offset }: the unfinished upload of this file
  const [resumedAt, setResumedAt] = useState(null);
  const [videoId, setVideoId] = useState(null);
  const upload = useRef(null);
  const thumbnail = useRef(null);
  const meter = useRef(speedMeter());
  const id = (name) => `${name}-${key}`;

  useEffect(() => {
    let gone = false;
    (async () => {
      const found = await unfinishedOf(item);
      if (gone) return;
      if (found) {
        setResume(found);
        setValues({ ...initialValues(file), ...found.previous.metadata });
        onResumed(found.previous.urlStorageKey);
      }
      setPhase('ready');
      if (item.previous && found) send(found); // chosen from the unfinished uploads: go on at once
    })();
    return () => {
      gone = true;
      if (upload.current) upload.current.abort(); // leaving: what arrived stays on the server, resumable
    };
  }, []);
  useEffect(() => onReady(phase === 'ready'), [phase]);
  useEffect(() => {
    if (startAll && phase === 'ready') send(resume);
  }, [startAll]);

  const handlers = {
    onProgress: (sent, total) => setProgress(meter.current.add(sent, total)),
    onSuccess: async (video) => {
      upload.current = null;
      if (thumbnail.current) {
        setPhase('finishing');
        try {
          await api.uploadThumbnail(video, thumbnail.current);
        } catch (failure) {
          setErrors({ thumbnail: `The video was uploaded, but the thumbnail was refused: ${failure.message}` });
        }
      }
      setVideoId(video);
      setPhase('done');
    },
    onError: (problem) => {
      if (problem.status === 401) sessionEnded();
      const created = upload.current && upload.current.url;
      const field = FIELDS.includes(problem.field) && !created ? problem.field : 'file';
      setErrors({ [field]: problem.message });
      // Without an answer (or with a server error) the upload can go on; a refusal of a created upload is final
      // (the server ended it), a refusal of its creation can be fixed in the fields and sent again.
      if (created && (problem.status === 0 || problem.status >= 500)) setPhase('stopped');
      else setPhase(created ? 'refused' : 'ready');
    },
  };

  function send(from) {
    setErrors({});
    setResumedAt(from ? from.offset : null);
    meter.current.reset();
    const metadata = { filename: file.name, title: values.title.trim(), category: values.category.trim() };
    if (values.description.trim()) metadata.description = values.description.trim();
    upload.current = createUpload(file, metadata, handlers);
    if (from) upload.current.resumeFromPreviousUpload(from.previous);
    setPhase('uploading');
    upload.current.start();
  }
  const pause = () => {
    upload.current.abort();
    setPhase('paused');
  };
  const goOn = async () => {
    setErrors({});
    const offset = await serverOffset(upload.current.url);
    if (offset === null) {
      setErrors({ file: 'The server no longer has this upload (it expired or was discarded): remove it and upload the file again.' });
      setPhase('refused');
      return;
    }
    setResumedAt(offset === undefined ? null : offset);
    meter.current.reset();
    setPhase('uploading');
    upload.current.start();
  };
  const cancel = async () => {
    await upload.current.abort(true).catch(() => {}); // ends it on the server and forgets it here
    onRemove();
  };
  const submit = (event) => {
    event.preventDefault();
    send(resume);
  };

  const editable = phase === 'ready' && !resume;
  const set = (name) => (event) => setValues({ ...values, [name]: event.currentTarget.value });
  return html`<li class="card upload-card" data-file=${file.name} data-phase=${phase}>
    <form onSubmit=${submit} novalidate aria-label=${`Upload of ${file.name}`}>
      <div class="upload-head">
        <h2 class="upload-name">${file.name}</h2>
        <span class="muted">${size(file.size)}</span>
      </div>
      ${resume && phase === 'ready' && html`<p class="notice notice-info">
        Continues an unfinished upload: ${size(resume.offset)} of ${size(file.size)} are on the server already
        (${percent(resume.offset, file.size)}%). Its details were sent when it started.
      </p>`}
      ${phase === 'done' && html`<p class="upload-summary">“${values.title}” · ${values.category}</p>`}
      <div class="upload-fields" hidden=${phase === 'done'}>
        <${Field} id=${id('title')} label="Title" error=${errors.title}>
          ${(props) => html`<input ...${props} disabled=${!editable} value=${values.title} onInput=${set('title')} />`}
        <//>
        <${Field} id=${id('category')} label="Category" error=${errors.category}>
          ${(props) => html`<input ...${props} disabled=${!editable} list="upload-categories" value=${values.category}
            onInput=${set('category')} />`}
        <//>
        <${Field} id=${id('description')} label="Description" error=${errors.description}>
          ${(props) => html`<textarea ...${props} disabled=${!editable} rows="2" value=${values.description}
            onInput=${set('description')}></textarea>`}
        <//>
        <${Field} id=${id('thumbnail')} label="Thumbnail" error=${errors.thumbnail}
          hint="Optional: an image. Without one, a frame of the video is used.">
          ${(props) => html`<input ...${props} type="file" accept="image/*" disabled=${phase === 'done' || phase === 'finishing'}
            onChange=${(e) => (thumbnail.current = e.currentTarget.files[0] || null)} />`}
        <//>
      </div>
      <${UploadProgress} phase=${phase} progress=${progress} />
      ${resumedAt > 0 && phase !== 'ready' && html`<p class="hint">Continued from ${size(resumedAt)}: only the rest is sent.</p>`}
      ${errors.file && html`<p class="field-error" role="alert"><span aria-hidden="true">⚠ </span>${errors.file}</p>`}
      ${phase === 'done' && html`<${Finished} id=${videoId} />`}
      <div class="actions">
        ${phase === 'ready' && html`<button type="submit" class="button primary">${resume ? 'Continue upload' : 'Upload'}</button>`}
        ${phase === 'uploading' && html`<button type="button" class="button" onClick=${pause}>Pause</button>`}
        ${(phase === 'paused' || phase === 'stopped') && html`
          <button type="button" class="button primary" onClick=${goOn}>Continue upload</button>
          <button type="button" class="button danger" onClick=${cancel}>Cancel upload</button>`}
        ${['ready', 'refused', 'done'].includes(phase) && html`<button type="button" class="button subtle" onClick=${onRemove}>
          ${phase === 'done' ? 'Hide' : 'Remove'}
        </button>`}
      </div>
    </form>
  </li>`;
}

/** The unfinished upload this card goes on with, { previous, offset }, or null: the one chosen from the list, else
 * one this browser stored for the same file that the server still has (the others are forgotten). */
async function unfinishedOf(item) {
  const candidates = item.previous ? [item.previous] : await previousUploads(item.file).catch(() => []);
  for (const previous of candidates) {
    const offset = await serverOffset(previous.uploadUrl);
    if (offset === null) await forgetUpload(previous.urlStorageKey);
    else return { previous, offset: offset === undefined ? 0 : offset };
  }
  return null;
}

function UploadProgress({ phase, progress }) {
  if (!progress || phase === 'ready' || phase === 'done') return null;
  const { sent, total } = progress;
  const words = {
    uploading: [`${size(sent)} of ${size(total)} (${percent(sent, total)}%)`, speed(progress.speed), timeLeft(progress.left)],
    paused: [`Paused at ${size(sent)} of ${size(total)}`],
    stopped: [`Stopped at ${size(sent)} of ${size(total)}`],
    refused: [`Refused after ${size(sent)} of ${size(total)}`],
    finishing: ['All sent; applying the thumbnail…'],
  }[phase];
  return html`<div class="upload-progress">
    <progress max=${total} value=${sent} aria-label="Upload progress">${percent(sent, total)}%</progress>
    <p class="upload-numbers" role="status">${(words || []).filter(Boolean).join(' · ')}</p>
  </div>`;
}

/** The finished upload's video, with its status as it changes (queued, processing, ready). */
function Finished({ id }) {
  const [video, setVideo] = useState(null);
  const load = () => api.video(id).then(({ data }) => setVideo(data));
  useEffect(() => {
    load().catch(() => {});
  }, [id]);
  usePolling(!video || isBusy(video) ? BUSY_POLL_MS : null, load);
  return html`<div class="notice notice-success upload-done" role="status">
    Uploaded. ${video && html`<${StatusBadge} video=${video} />`}
    <a href=${`#/videos/${id}`}>Open the video page</a>
  </div>`;
}
