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
