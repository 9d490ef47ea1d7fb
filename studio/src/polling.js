// Refresh what a page shows every couple of seconds while something on it is queued or processing, and only
// while the tab is visible: an idle Studio costs the server nothing.
import { useEffect, useRef } from 'preact/hooks';

export const POLL_MS = 2000;

export function usePolling(active, refresh) {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    if (!active) return undefined;
    let timer = null;
    let stopped = false;
    const tick = async () => {
      if (document.visibilityState === 'visible') {
        try {
          await latest.current();
        } catch {
          // the page shows its own error; the next tick tries again
        }
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active]);
}
