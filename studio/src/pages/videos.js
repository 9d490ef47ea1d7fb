// The list: search by title, filter by status and category, a page at a time; it refreshes itself while a
// video on it is queued or processing. The filters live in the URL (#/videos?q=...), so reload and back work.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { api } from '../api.js';
import { replaceParams } from '../router.js';
import { STATUS_LABELS, date, duration, isBusy } from '../format.js';
import { BUSY_POLL_MS, IDLE_POLL_MS, usePolling } from '../polling.js';
import { Notice } from '../components/field.js';
import { Progress, StatusBadge } from '../components/status.js';

const PAGE_SIZE = 20;

export function Videos({ params, flash }) {
  const q = params.get('q') || '';
  const status = params.get('status') || '';
  const category = params.get('category') || '';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const [search, setSearch] = useState(q);
  const [result, setResult] = useState(null); // { videos, total }
  const [categories, setCategories] = useState([]);
  const [error, setError] = useState('');
  const typing = useRef(null);

  const load = async () => {
    const query = { page, page_size: PAGE_SIZE };
    if (q) query.q = q;
    if (status) query.status = status;
    if (category) query.category = category;
    const { data, headers } = await api.videos(query);
    setResult({ videos: data, total: Number(headers.get('X-Total-Count') || data.length) });
    setError('');
  };

  useEffect(() => {
    load().catch((failure) => setError(failure.message));
  }, [q, status, category, page]);
  useEffect(() => {
    api.categories().then(({ data }) => setCategories(data), () => {});
  }, []);
  useEffect(() => setSearch(q), [q]);
  usePolling(result && result.videos.some(isBusy) ? BUSY_POLL_MS : IDLE_POLL_MS, load);

  const update = (changes) => {
    const next = { q, status, category, page: '', ...changes };
    replaceParams('videos', Object.entries(next));
  };
  const onSearch = (event) => {
    const value = event.currentTarget.value;
    setSearch(value);
    clearTimeout(typing.current);
    typing.current = setTimeout(() => update({ q: value.trim() }), 300);
  };
  const submit = (event) => {
    event.preventDefault();
    clearTimeout(typing.current);
    update({ q: search.trim() });
  };

  const pages = result ? Math.max(1, Math.ceil(result.total / PAGE_SIZE)) : 1;
  const filtered = q || status || category;
  return html`<section aria-labelledby="videos-title">
    <div class="page-head">
      <h1 id="videos-title">Videos</h1>
      ${result && html`<p class="muted" aria-live="polite">${result.total} ${result.total === 1 ? 'video' : 'videos'}${filtered ? ' found' : ''}</p>`}
    </div>
    <${Notice} kind="success">${flash}<//>
    <form class="filters" role="search" onSubmit=${submit}>
      <div class="field">
        <label for="search">Search by title</label>
        <input id="search" type="search" value=${search} onInput=${onSearch} placeholder="Title contains…" />
      </div>
      <div class="field">
        <label for="status-filter">Status</label>
        <select id="status-filter" value=${status} onChange=${(e) => update({ status: e.currentTarget.value })}>
          <option value="">All statuses</option>
          ${Object.entries(STATUS_LABELS).map(([value, label]) => html`<option value=${value}>${label}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="category-filter">Category</label>
        <select id="category-filter" value=${category} onChange=${(e) => update({ category: e.currentTarget.value })}>
          <option value="">All categories</option>
          ${categories.map((c) => html`<option value=${c.name}>${c.name} (${c.videos})</option>`)}
          ${category && !categories.some((c) => c.name.toLowerCase() === category.toLowerCase()) &&
          html`<option value=${category}>${category}</option>`}
        </select>
      </div>
      <button type="submit" class="button">Search</button>
      ${filtered && html`<button type="button" class="button subtle" onClick=${() => update({ q: '', status: '', category: '' })}>
        Clear filters
      </button>`}
    </form>
    <${Notice} kind="error">${error}<//>
    ${!result && !error && html`<p class="muted" role="status">Loading videos…</p>`}
    ${result && result.videos.length === 0 &&
    html`<p class="empty">${filtered ? 'No video matches these filters.' : 'No videos yet.'}</p>`}
    ${result && result.videos.length > 0 && html`<${VideoTable} videos=${result.videos} />`}
    ${result && pages > 1 && html`<nav class="pager" aria-label="Pages">
      <button type="button" class="button" disabled=${page <= 1} onClick=${() => update({ page: page - 1 })}>
        Previous page
      </button>
      <span>Page ${page} of ${pages}</span>
      <button type="button" class="button" disabled=${page >= pages} onClick=${() => update({ page: page + 1 })}>
        Next page
      </button>
    </nav>`}
  </section>`;
}

function VideoTable({ videos }) {
  return html`<table class="videos">
    <caption class="visually-hidden">Videos, newest first</caption>
    <thead>
      <tr>
        <th scope="col"><span class="visually-hidden">Thumbnail</span></th>
        <th scope="col">Title</th>
        <th scope="col">Category</th>
        <th scope="col">Status</th>
        <th scope="col">Duration</th>
        <th scope="col">Added</th>
      </tr>
    </thead>
    <tbody>
      ${videos.map(
        (video) => html`<tr key=${video.id} data-video-id=${video.id}>
          <td class="thumb-cell">
            ${video.thumbnail_url
              ? html`<img class="thumb" src=${video.thumbnail_url} alt="" loading="lazy" width="128" height="72" />`
              : html`<span class="thumb thumb-empty" aria-hidden="true">▶</span>`}
          </td>
          <td class="title-cell"><a href=${`#/videos/${video.id}`}>${video.title}</a></td>
          <td data-label="Category">${video.category}</td>
          <td data-label="Status" class="status-cell"><${StatusBadge} video=${video} /><${Progress} video=${video} /></td>
          <td data-label="Duration">${duration(video.duration)}</td>
          <td data-label="Added"><time datetime=${video.created_at}>${date(video.created_at)}</time></td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
