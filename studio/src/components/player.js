// The preview: the master playlist through hls.js (same-origin, so the login cookie goes along), with the
// quality picked by rendition name. hls.js knows levels by their height; the renditions say which name a
// height has.
import Hls from 'hls.js/light'; // no subtitles, alternate audio or DRM: the ladder has none
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { refreshSession } from '../api.js';

const AUTO = 'auto';

export function Player({ video, onTime }) {
  const element = useRef(null);
  const hls = useRef(null);
  const [levels, setLevels] = useState([]); // [{ index, name }]
  const [choice, setChoice] = useState(AUTO);
  const [showing, setShowing] = useState('');
  const [error, setError] = useState('');
  const source = `/api/video/${video.id}/index.m3u8`;
  const ladder = video.renditions.map((r) => r.name).join(',');

  useEffect(() => {
    const media = element.current;
    setError('');
    setChoice(AUTO);
    if (!Hls.isSupported()) {
      if (media.canPlayType('application/vnd.apple.mpegurl')) media.src = source; // Safari plays HLS itself
      else setError('This browser cannot play HLS video.');
      return undefined;
    }
    const player = new Hls({ capLevelToPlayerSize: false });
    hls.current = player;
    let refreshed = false;
    player.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      setLevels(
        data.levels.map((level, index) => {
          const rendition = video.renditions.find((r) => r.height === level.height);
          return { index, name: rendition ? rendition.name : `${level.height}p` };
        }),
      );
    });
    player.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      const level = player.levels[data.level];
      const rendition = level && video.renditions.find((r) => r.height === level.height);
      setShowing(rendition ? rendition.name : level ? `${level.height}p` : '');
    });
    player.on(Hls.Events.ERROR, async (_event, data) => {
      if (!data.fatal) return;
      const status = data.response && data.response.code;
      if (status === 401 && !refreshed && (await refreshSession())) {
        refreshed = true; // the access cookie expired: renewed once, load again
        player.loadSource(source);
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        player.recoverMediaError();
        return;
      }
      setError('The video could not be loaded for the preview.');
    });
    player.loadSource(source);
    player.attachMedia(media);
    return () => {
      player.destroy();
      hls.current = null;
      setLevels([]);
      setShowing('');
    };
  }, [video.id, ladder, video.status]);

  const pick = (event) => {
    const value = event.currentTarget.value;
    setChoice(value);
    if (hls.current) hls.current.currentLevel = value === AUTO ? -1 : Number(value);
  };

  return html`<div class="player">
    <video
      ref=${element}
      controls
      playsinline
      preload="metadata"
      aria-label=${`Preview of ${video.title}`}
      poster=${video.thumbnail_url || undefined}
      onTimeUpdate=${(event) => onTime && onTime(event.currentTarget.currentTime)}
    ></video>
    <div class="player-bar">
      <label for="quality">Quality</label>
      <select id="quality" value=${choice} onChange=${pick} disabled=${levels.length === 0}>
        <option value=${AUTO}>Auto</option>
        ${levels.map((level) => html`<option value=${String(level.index)}>${level.name}</option>`)}
      </select>
      <span class="muted" aria-live="polite">${showing && `Now showing ${showing}`}</span>
    </div>
    ${error && html`<p class="field-error" role="alert">${error}</p>`}
  </div>`;
}
