// How numbers, times and statuses read in the Studio.

export const STATUS_LABELS = { queued: 'Queued', processing: 'Processing', ready: 'Ready', failed: 'Failed' };

export function duration(seconds) {
  if (seconds == null) return '–';
  const total = Math.round(seconds);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export function date(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function dateTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function size(bytes) {
  if (bytes == null) return '–';
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** Queued and processing videos change on their own: the pages poll while one is shown. */
export function isBusy(video) {
  return video.status === 'queued' || video.status === 'processing';
}

export function speed(bytesPerSecond) {
  return bytesPerSecond == null ? '' : `${size(bytesPerSecond)}/s`;
}

export function timeLeft(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${(seconds / 3600).toFixed(1)} h left`;
}

export function percent(part, whole) {
  return whole ? Math.floor((100 * part) / whole) : 0;
}
