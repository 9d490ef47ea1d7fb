// The shell: who is signed in (checked against the admin API, the one judge of "staff"), the navigation and
// the page of the current route. A new page is one entry in PAGES (and in NAV when it has a menu entry).
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { api, onSignedOut } from './api.js';
import { useRoute } from './router.js';
import { Notice } from './components/field.js';
import { Operations } from './pages/operations.js';
import { SignIn } from './pages/signin.js';
import { StaffOnly } from './pages/staffonly.js';
import { Upload } from './pages/upload.js';
import { Users } from './pages/users.js';
import { VideoPage } from './pages/video.js';
import { Videos } from './pages/videos.js';

const WHO = 'videoflix-studio-user'; // the signed-in email, only for display (the cookies are HttpOnly)

export const NAV = [
  { section: 'videos', label: 'Videos' },
  { section: 'upload', label: 'Upload' },
  { section: 'users', label: 'Users' },
  { section: 'operations', label: 'Operations' },
];

// The Upload page is not among them: it stays mounted (hidden on other pages), so uploads go on while staff look
// at other pages.
const PAGES = {
  videos: ({ route, flash, setFlash }) =>
    route.id
      ? html`<${VideoPage} id=${route.id} onDeleted=${setFlash} />`
      : html`<${Videos} params=${route.params} flash=${flash} />`,
  upload: () => null,
  users: ({ route, who }) => html`<${Users} params=${route.params} who=${who} />`,
  operations: () => html`<${Operations} />`,
};

export function App() {
  const route = useRoute();
  const [session, setSession] = useState('checking'); // checking | signed-out | viewer | staff | unreachable
  const [message, setMessage] = useState('');
  const [flash, setFlash] = useState('');
  const who = sessionStorage.getItem(WHO);

  const check = async () => {
    try {
      await api.videos({ page_size: 1 }); // an admin endpoint: 200 staff, 403 a viewer, 401 nobody
      setSession('staff');
    } catch (failure) {
      if (failure.status === 403) setSession('viewer');
      else if (failure.status === 401) setSession('signed-out');
      else {
        setMessage(failure.message);
        setSession('unreachable');
      }
    }
  };
  useEffect(() => {
    onSignedOut(() => {
      setMessage('Your session has ended. Sign in again.');
      setSession('signed-out');
    });
    check();
  }, []);
  useEffect(() => {
    if (!route.id) return undefined;
    setFlash('');
    return undefined;
  }, [route.id]);
  useEffect(() => {
    document.title = session === 'staff' ? 'Videoflix Studio' : 'Sign in · Videoflix Studio';
  }, [session]);

  const signedIn = async (username) => {
    if (username) sessionStorage.setItem(WHO, username);
    setMessage('');
    await check();
  };
  const signOut = async () => {
    try {
      await api.signOut();
    } catch {
      // the session may be gone already; the cookies are cleared either way
    }
    sessionStorage.removeItem(WHO);
    setMessage('You have signed out.');
    setSession('signed-out');
  };

  if (session === 'checking') return html`<main id="main" class="signin"><p class="muted" role="status">Loading the Studio…</p></main>`;
  if (session === 'unreachable') {
    return html`<main id="main" class="signin"><div class="card signin-card">
      <h1>The Studio cannot reach the server</h1>
      <${Notice} kind="error">${message}<//>
      <button type="button" class="button primary" onClick=${() => { setSession('checking'); check(); }}>Try again</button>
    </div></main>`;
  }
  if (session === 'signed-out') return html`<${SignIn} onSignedIn=${signedIn} message=${message} />`;
  if (session === 'viewer') return html`<${StaffOnly} who=${who} onSignOut=${signOut} />`;

  const page = PAGES[route.section] || PAGES.videos;
  const current = PAGES[route.section] ? route.section : 'videos';
  return html`<div class="shell">
    <header class="topbar">
      <a class="brand" href="#/videos">Videoflix <span>Studio</span></a>
      <nav aria-label="Studio">
        <ul>
          ${NAV.map((item) => html`<li><a href=${`#/${item.section}`} aria-current=${item.section === current ? 'page' : undefined}>
            ${item.label}
          </a></li>`)}
        </ul>
      </nav>
      <div class="account">
        ${who && html`<span class="who" title=${who}>${who}</span>`}
        <button type="button" class="button subtle" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main id="main" class="content">
      ${page({ route, flash, setFlash, who })}
      <div hidden=${current !== 'upload'}><${Upload} /></div>
    </main>
  </div>`;
}
