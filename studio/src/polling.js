// Refresh what a page shows on a timer, only while the tab is visible: every couple of seconds while something
// on it is queued or processing, and (on the list) now and then otherwise, so new uploads show up too.
import { useEffect, useRef } from 'preact/hooks';

export const BUSY_POLL_MS = 2000;
export const IDLE_POLL_MS = 15000;

/** Call `refresh` every `interval` ms (none when `interval` is null). */
export function usePolling(interval, refresh) {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    if (!interval) return undefined;
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
      if (!stopped) timer = setTimeout(tick, interval);
    };
    timer = setTimeout(tick, interval);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [interval]);
}
