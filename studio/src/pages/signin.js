import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { api } from '../api.js';
import { Field, Notice } from '../components/field.js';

export function SignIn({ onSignedIn, message }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const { data } = await api.signIn(email.trim(), password);
      setPassword('');
      await onSignedIn(data.user && data.user.username);
    } catch (failure) {
      setError(
        failure.status === 401 ? 'The email or the password is not right, or the account is not active yet.' : failure.message,
      );
    } finally {
      setBusy(false);
    }
  };

  return html`<main id="main" class="signin">
    <form class="card signin-card" onSubmit=${submit} aria-labelledby="signin-title">
      <p class="brand brand-large">Videoflix <span>Studio</span></p>
      <h1 id="signin-title">Sign in</h1>
      <p class="muted">For staff: manage the videos of Videoflix.</p>
      <${Notice} kind="info">${message}<//>
      <${Field} id="email" label="Email">
        ${(props) => html`<input ...${props} type="email" autocomplete="username" required value=${email}
          onInput=${(e) => setEmail(e.currentTarget.value)} />`}
      <//>
      <${Field} id="password" label="Password">
        ${(props) => html`<input ...${props} type="password" autocomplete="current-password" required value=${password}
          onInput=${(e) => setPassword(e.currentTarget.value)} />`}
      <//>
      <${Notice} kind="error">${error}<//>
      <button type="submit" class="button primary wide" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}
