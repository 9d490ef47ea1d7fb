// Users: find accounts by email, a page at a time, and act on them. What is allowed is the server's to say: a
// refusal (staff acting on their own account: 409) is shown next to the account, in the server's words.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { api } from '../api.js';
import { replaceParams } from '../router.js';
import { date, dateTime } from '../format.js';
import { ConfirmDialog } from '../components/confirm.js';
import { Notice } from '../components/field.js';

export function Users({ params, who }) {
  const q = params.get('q') || '';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const [search, setSearch] = useState(q);
  const [result, setResult] = useState(null); // { count, page, page_size, results }
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [deleting, setDeleting] = useState(null);
  const [busy, setBusy] = useState(false);
  const typing = useRef(null);

  const load = async () => {
    const { data } = await api.users(q ? { q, page } : { page });
    setResult(data);
    setError('');
  };
  useEffect(() => {
    load().catch((failure) => setError(failure.message));
  }, [q, page]);
  useEffect(() => setSearch(q), [q]);

  const update = (changes) => replaceParams('users', Object.entries({ q, page: '', ...changes }));
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
  const replace = (user) =>
    setResult((current) => ({ ...current, results: current.results.map((u) => (u.id === user.id ? user : u)) }));
  const remove = async () => {
    setBusy(true);
    try {
      await api.removeUser(deleting.id);
      setNotice(`${deleting.email} was deleted.`);
      await load();
    } catch (failure) {
      setError(failure.message);
    } finally {
      setBusy(false);
      setDeleting(null);
    }
  };

  const pages = result ? Math.max(1, Math.ceil(result.count / result.page_size)) : 1;
  return html`<section aria-labelledby="users-title">
    <div class="page-head">
      <h1 id="users-title">Users</h1>
      ${result && html`<p class="muted" aria-live="polite">${result.count} ${result.count === 1 ? 'account' : 'accounts'}${q ? ' found' : ''}</p>`}
    </div>
    <form class="filters filters-one" role="search" onSubmit=${submit}>
      <div class="field">
        <label for="user-search">Search by email</label>
        <input id="user-search" type="search" value=${search} onInput=${onSearch} placeholder="Email contains…" />
      </div>
      <button type="submit" class="button">Search</button>
    </form>
    <${Notice} kind="success">${notice}<//>
    <${Notice} kind="error">${error}<//>
    ${!result && !error && html`<p class="muted" role="status">Loading accounts…</p>`}
    ${result && result.results.length === 0 && html`<p class="empty">${q ? 'No account matches this search.' : 'No accounts yet.'}</p>`}
    ${result && result.results.length > 0 && html`<table class="videos users">
      <caption class="visually-hidden">Accounts, oldest first</caption>
      <thead><tr>
        <th scope="col">Email</th><th scope="col">Status</th><th scope="col">Role</th>
        <th scope="col">Joined</th><th scope="col">Last sign-in</th><th scope="col">Actions</th>
      </tr></thead>
      <tbody>
        ${result.results.map((user) => html`<${UserRow} key=${user.id} user=${user} self=${user.email === who}
          onChanged=${replace} onDelete=${() => setDeleting(user)} />`)}
      </tbody>
    </table>`}
    ${result && pages > 1 && html`<nav class="pager" aria-label="Pages">
      <button type="button" class="button" disabled=${page <= 1} onClick=${() => update({ page: page - 1 })}>Previous page</button>
      <span>Page ${page} of ${pages}</span>
      <button type="button" class="button" disabled=${page >= pages} onClick=${() => update({ page: page + 1 })}>Next page</button>
    </nav>`}
    <${ConfirmDialog}
      open=${deleting !== null}
      title=${deleting ? `Delete ${deleting.email}?` : ''}
      confirmLabel=${busy ? 'Deleting…' : 'Delete'}
      busy=${busy}
      onConfirm=${remove}
      onCancel=${() => setDeleting(null)}
    >
      <p>The account and its sign-in tokens are removed for good; every session it has ends now.</p>
    <//>
  </section>`;
}

function UserRow({ user, self, onChanged, onDelete }) {
  const [message, setMessage] = useState(null); // { kind, text }
  const [busy, setBusy] = useState(false);

  const act = async (call, done) => {
    setBusy(true);
    setMessage(null);
    try {
      const { data } = await call();
      if (data && data.id) onChanged(data);
      setMessage({ kind: 'success', text: done(data) });
    } catch (failure) {
      setMessage({ kind: 'error', text: failure.message });
    } finally {
      setBusy(false);
    }
  };
  const button = (label, call, done, kind = '') => html`<button type="button" class=${`button small ${kind}`}
    disabled=${busy} aria-label=${`${label}: ${user.email}`} onClick=${() => act(call, done)}>${label}</button>`;

  return html`<tr data-user-id=${user.id} data-email=${user.email}>
    <td class="title-cell"><strong>${user.email}</strong>${self && html` <span class="muted">(you)</span>`}</td>
    <td data-label="Status">
      <span class=${`status ${user.is_active ? 'status-ready' : 'status-queued'}`}>${user.is_active ? 'Active' : 'Not active'}</span>
    </td>
    <td data-label="Role">${user.is_staff ? 'Staff' : 'Viewer'}</td>
    <td data-label="Joined"><time datetime=${user.created_at}>${date(user.created_at)}</time></td>
    <td data-label="Last sign-in">${user.last_login ? html`<time datetime=${user.last_login}>${dateTime(user.last_login)}</time>` : 'Never'}</td>
    <td class="user-actions">
      <div class="actions">
        ${user.is_active
          ? button('Deactivate', () => api.userAction(user.id, 'deactivate'), () => 'Deactivated: every session of the account has ended.', 'danger')
          : button('Activate', () => api.userAction(user.id, 'activate'), () => 'Activated: the account can sign in.')}
        ${user.is_staff
          ? button('Remove staff', () => api.setStaff(user.id, false), () => 'Staff rights removed.')
          : button('Make staff', () => api.setStaff(user.id, true), () => 'Staff rights granted.')}
        ${!user.is_active && button('Resend activation email', () => api.userAction(user.id, 'resend-activation'), (data) => data.detail)}
        ${button('Sign out everywhere', () => api.userAction(user.id, 'sign-out'), (data) =>
          `Signed out everywhere: ${data.sessions_ended} ${data.sessions_ended === 1 ? 'session' : 'sessions'} ended.`)}
        <button type="button" class="button small danger" disabled=${busy} aria-label=${`Delete: ${user.email}`} onClick=${onDelete}>Delete</button>
      </div>
      ${message && html`<p class=${message.kind === 'error' ? 'field-error' : 'row-success'} role=${message.kind === 'error' ? 'alert' : 'status'}>
        ${message.text}
      </p>`}
    </td>
  </tr>`;
}
