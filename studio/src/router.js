// Hash routes: #/videos, #/videos?q=deep&status=ready&page=2, #/videos/12. The server only ever serves
// /studio/, so a reload or a shared link lands on the same page.
import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash) {
  const [path, search = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  return { section: parts[0] || 'videos', id: parts[1] ? Number(parts[1]) : null, params: new URLSearchParams(search) };
}

export function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return parseHash(hash);
}

/** Change the query of the current route without adding a history entry per keystroke. */
export function replaceParams(section, params) {
  const search = new URLSearchParams([...params].filter(([, value]) => value !== '' && value != null)).toString();
  history.replaceState(null, '', `#/${section}${search ? `?${search}` : ''}`);
  dispatchEvent(new HashChangeEvent('hashchange'));
}

export function go(hash) {
  location.hash = hash;
}
