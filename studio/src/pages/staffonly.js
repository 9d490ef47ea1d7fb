import { html } from '../html.js';

export function StaffOnly({ who, onSignOut }) {
  return html`<main id="main" class="signin">
    <section class="card signin-card" aria-labelledby="staff-title">
      <p class="brand brand-large">Videoflix <span>Studio</span></p>
      <h1 id="staff-title">Staff only</h1>
      <p>
        ${who ? html`You are signed in as <strong>${who}</strong>, ` : 'You are signed in with '}an account that is not
        a staff account. The Studio is for the people who run Videoflix.
      </p>
      <p class="muted">To watch videos, use the Videoflix app. To get staff access, ask an administrator.</p>
      <button type="button" class="button primary wide" onClick=${onSignOut}>Sign out</button>
    </section>
  </main>`;
}
