// The admin JSON API, as the Studio calls it: same origin, cookies sent by the browser, X-CSRFToken on every
// unsafe request, and one refresh of the session when an answer is 401 (see docs/api.md).

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UNREACHABLE = 'The server could not be reached. Check the connection and try again.';

/** An error answer of the API: its status, its worded `detail` and, for a refused input, the `field`. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || (status ? `The server answered with an error (${status}).` : UNREACHABLE));
    this.status = status;
    this.field = (body && body.field) || null;
  }
}

function cookie(name) {
  const found = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

let signedOut = () => {};
/** Called when the session is over (a 401 that a refresh could not fix): the app shows the sign-in form. */
export function onSignedOut(handler) {
  signedOut = handler;
}

/** The value every unsafe request sends as X-CSRFToken (the tus uploads too). */
export function csrfToken() {
  return cookie('csrftoken');
}

/** The session is over: the app shows the sign-in form (as after a 401 that a refresh could not fix). */
export function sessionEnded() {
  signedOut();
}

async function send(method, path, { json, form, headers: extra } = {}) {
  const headers = { Accept: 'application/json', ...extra };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // multipart: the browser sets the boundary
  }
  const token = cookie('csrftoken');
  if (UNSAFE.has(method) && token) headers['X-CSRFToken'] = token;
  try {
    return await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, null);
  }
}

async function readBody(response) {
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json().catch(() => null) : null;
}

let refreshing = null;
/** One refresh for every request that met a 401 at the same time; true when the session was renewed. */
export function refreshSession() {
  if (!refreshing) {
    refreshing = send('POST', '/api/token/refresh/')
      .then((response) => response.ok)
      .catch(() => false)
      .finally(() => setTimeout(() => (refreshing = null), 0));
  }
  return refreshing;
}

/** Call the API. Resolves to `{ data, headers }`; rejects with an ApiError. */
export async function request(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response.status === 401 && !options.public) {
    if (await refreshSession()) response = await send(method, path, options);
    if (response.status === 401) {
      signedOut();
      throw new ApiError(401, await readBody(response));
    }
  }
  const data = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, headers: response.headers };
}

export const api = {
  signIn: (email, password) => request('POST', '/api/login/', { json: { email, password }, public: true }),
  signOut: () => request('POST', '/api/logout/', { public: true }),
  videos: (query) => request('GET', `/api/admin/videos/?${new URLSearchParams(query)}`),
  video: (id) => request('GET', `/api/admin/videos/${id}`),
  categories: () => request('GET', '/api/admin/categories/'),
  update: (id, changes) => request('PATCH', `/api/admin/videos/${id}`, { json: changes }),
  remove: (id) => request('DELETE', `/api/admin/videos/${id}`),
  transcode: (id) => request('POST', `/api/admin/videos/${id}/transcode`),
  uploadThumbnail: (id, file) => {
    const form = new FormData();
    form.append('thumbnail', file);
    return request('PUT', `/api/admin/videos/${id}/thumbnail`, { form });
  },
  thumbnailFromFrame: (id, seconds) =>
    request('POST', `/api/admin/videos/${id}/thumbnail/frame`, { json: { seconds } }),
  // A resumable upload's state (tus HEAD): its Upload-Offset and Upload-Length headers.
  uploadState: (url) => request('HEAD', new URL(url).pathname, { headers: { 'Tus-Resumable': '1.0.0' } }),
  users: (query) => request('GET', `/api/admin/users/?${new URLSearchParams(query)}`),
  // action: deactivate | activate | sign-out | resend-activation
  userAction: (id, action) => request('POST', `/api/admin/users/${id}/${action}`),
  setStaff: (id, isStaff) => request('POST', `/api/admin/users/${id}/staff`, { json: { is_staff: isStaff } }),
  removeUser: (id) => request('DELETE', `/api/admin/users/${id}`),
  operations: () => request('GET', '/api/admin/operations'),
  emails: (status) => request('GET', `/api/admin/emails/?${new URLSearchParams({ status })}`),
  retryEmail: (id) => request('POST', `/api/admin/emails/${id}/retry`),
};
