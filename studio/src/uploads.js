// Resumable uploads with tus-js-client against /api/admin/uploads/ (tus 1.0.0, docs/api.md). tus-js-client keeps
// each unfinished upload's URL in localStorage under the file's fingerprint (name, type, size, date), so the same
// file chosen again, after a dropped connection or a reload, goes on from the server's offset.
import * as tus from 'tus-js-client';
import { api, csrfToken, refreshSession } from './api.js';

export const ENDPOINT = `${location.origin}/api/admin/uploads/`;
const CHUNK_BYTES = 8 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000]; // spans a dead writer's 15 s lease (docs/api.md)
const storage = tus.defaultOptions.urlStorage;

function statusOf(error) {
  return error && error.originalResponse ? error.originalResponse.getStatus() : 0;
}

/** What went wrong, in words: the server's `detail` (and the `field` it names), else what the browser saw. */
export function uploadProblem(error) {
  const status = statusOf(error);
  let body = null;
  try {
    body = JSON.parse(error.originalResponse.getBody());
  } catch {
    // no JSON answer: a dropped connection, or no answer at all
  }
  if (body && body.detail) return { message: body.detail, field: body.field || null, status };
  if (status === 401) return { message: 'Your session has ended. Sign in again, then choose the file again to continue.', status };
  if (status) return { message: `The server refused the upload (${status}).`, status };
  return {
    message: 'The connection to the server was lost. What arrived is kept: press Continue upload to go on from there.',
    status,
  };
}

/**
 * A tus upload of `file`. `handlers`: onProgress(sent, total), onSuccess(videoId), onError(problem).
 * The CSRF header is read for every request (a refresh renews the cookie), and a 401 refreshes the session once
 * before the retry goes out.
 */
export function createUpload(file, metadata, handlers) {
  let renewal = null;
  let renewalFailed = false;
  return new tus.Upload(file, {
    endpoint: ENDPOINT,
    chunkSize: CHUNK_BYTES,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    metadata,
    onBeforeRequest: async (req) => {
      if (renewal) await renewal;
      req.setHeader('X-CSRFToken', csrfToken() || '');
    },
    onShouldRetry: (error) => {
      const status = statusOf(error);
      if (status === 401) {
        if (renewalFailed) return false; // signed out for good: the error reaches the page
        renewal = refreshSession().then((renewed) => {
          renewalFailed = !renewed;
          renewal = null;
        });
        return true;
      }
      // tus-js-client's own rule: not a 4xx, except a busy upload (409, 423)
      return (status < 400 || status >= 500 || status === 409 || status === 423) && navigator.onLine !== false;
    },
    onProgress: handlers.onProgress,
    onSuccess: ({ lastResponse }) => handlers.onSuccess(Number(lastResponse.getHeader('Video-Id'))),
    onError: (error) => handlers.onError(uploadProblem(error)),
  });
}

/**
 * The unfinished uploads this browser remembers, with how much of each the server has:
 * [{ key, title, filename, size, offset, started }]. Those the server no longer knows are forgotten.
 */
export async function unfinishedUploads() {
  const found = [];
  for (const entry of await storage.findAllUploads()) {
    if (!entry.uploadUrl || !entry.uploadUrl.startsWith(ENDPOINT)) continue;
    const offset = await serverOffset(entry.uploadUrl);
    if (offset === null) {
      await storage.removeUpload(entry.urlStorageKey);
      continue;
    }
    found.push({
      key: entry.urlStorageKey,
      url: entry.uploadUrl,
      previous: entry, // what resumeFromPreviousUpload takes
      title: entry.metadata.title || '',
      filename: entry.metadata.filename || '',
      size: entry.size,
      offset,
      started: entry.creationTime,
    });
  }
  return found;
}

/** The bytes the server has of an upload: null when it is gone (expired, discarded, someone else's), undefined
 * when the server could not say. Asked through the API client, so an expired access cookie is renewed first (a
 * 401 to tus-js-client's own HEAD would make it forget the upload and start a new one). */
export async function serverOffset(url) {
  try {
    const { headers } = await api.uploadState(url);
    return Number(headers.get('Upload-Offset'));
  } catch (failure) {
    return failure.status === 404 || failure.status === 410 ? null : undefined;
  }
}

/** The stored unfinished uploads of this very file (same name, type, size and date). */
export function previousUploads(file) {
  return new tus.Upload(file, { endpoint: ENDPOINT }).findPreviousUploads();
}

/** Forget a stored upload the server no longer has. */
export function forgetUpload(key) {
  return storage.removeUpload(key);
}

/** Terminate an unfinished upload on the server and forget it here. */
export async function discardUpload(entry) {
  try {
    await tus.Upload.terminate(entry.url, {
      retryDelays: [0, 1000],
      onBeforeRequest: (req) => req.setHeader('X-CSRFToken', csrfToken() || ''),
    });
  } catch (error) {
    if (![404, 410].includes(statusOf(error))) throw new Error(uploadProblem(error).message);
  }
  await storage.removeUpload(entry.key);
}

/** Speed and time left from the bytes sent over the last few seconds (not since the start: a resumed upload starts
 * at its offset, and connections change speed). */
export function speedMeter(windowMs = 5000) {
  let samples = [];
  return {
    reset() {
      samples = [];
    },
    add(sent, total) {
      const now = performance.now();
      if (samples.length && sent < samples[samples.length - 1][1]) samples = []; // a retry sends bytes again
      samples.push([now, sent]);
      while (samples.length > 2 && now - samples[0][0] > windowMs) samples.shift();
      const [t0, b0] = samples[0];
      const seconds = (now - t0) / 1000;
      const speed = seconds > 0.5 ? (sent - b0) / seconds : null;
      return { sent, total, speed, left: speed ? (total - sent) / speed : null };
    },
  };
}
