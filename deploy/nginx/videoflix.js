// Videoflix at the edge (njs, nginx's JavaScript module): the same decisions the app makes on its streaming paths,
// so nginx serves rendition playlists and segments itself, without a round trip to Python (docs/edge.md).
//
//   viewer(r)     the access cookie: an HS256 JWT signed with SECRET_KEY, of type "access", issuer "videoflix",
//                 not expired, of a session that has not ended (EDGE_REVOCATION_FILE, written by the app).
//                 "1" when it may watch, "" when not.
//   link(r)       a signed stream link /media/hls/<expires>/<signature>/<id>/<rendition>/<file>: the seconds a
//                 shared cache may keep the answer (Cache-Control max-age), "" when forged or expired.
//   cors_origin   the request's Origin when it is one of CORS_ALLOWED_ORIGINS (else CSRF_TRUSTED_ORIGINS, else the
//                 app's default), "" otherwise: hls.js sends credentials, so the origin is echoed, never "*".
//
// The key and the lists are read once, when nginx loads its configuration (a new key needs `nginx -s reload`).
// The revocation file is read on every cookie check: a session ended a moment ago is refused at once, and a
// missing file refuses every cookie (fail closed) instead of letting ended sessions through.
import crypto from 'crypto';
import fs from 'fs';

const ISSUER = 'videoflix';
// The app's tokens all carry this header ({"alg":"HS256","typ":"JWT"}): comparing it as a string pins the algorithm
// (no "none", no algorithm confusion) without decoding it on every request.
const HEADER = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9';
const DEFAULT_ORIGINS = 'http://127.0.0.1:5500,http://localhost:5500';  // settings.DEFAULT_ORIGINS
const SEGMENT = /^\/media\/hls\/([0-9]{1,12})\/([A-Za-z0-9_-]{43})\/([0-9]{1,18})\/(480p|720p|1080p)\/(index\.m3u8|[0-9]{1,6}\.ts)$/;
const PLAYLIST_MAX_AGE = 10;  // seconds, as the app: a regenerated ladder is seen within them

function setting(name, fallback) {
    const env = process.env;
    if (env[name]) {
        return env[name];
    }
    if (env[name + '_FILE']) {  // a container secret, as the app reads it
        return fs.readFileSync(env[name + '_FILE'], 'utf8').replace(/[\r\n]+$/, '');  // as the app: line ends only
    }
    return fallback;
}

const KEY = setting('SECRET_KEY', '');
const LINK_KEY = crypto.createHmac('sha256', KEY).update('videoflix stream links').digest();
const REVOCATIONS = setting('EDGE_REVOCATION_FILE', '');
const ORIGINS = setting('CORS_ALLOWED_ORIGINS', setting('CSRF_TRUSTED_ORIGINS', DEFAULT_ORIGINS))
    .split(',').map((origin) => origin.trim()).filter((origin) => origin);

function same(a, b) {
    // Constant time for equal lengths: how much of a signature matched must not show in the answer's timing.
    if (a.length !== b.length) {
        return false;
    }
    let difference = 0;
    for (let i = 0; i < a.length; i++) {
        difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
    }
    return difference === 0;
}

function json(part) {
    try {
        return JSON.parse(Buffer.from(part, 'base64url').toString());
    } catch (e) {
        return null;
    }
}

function ended(family) {
    let list;
    try {
        list = fs.readFileSync(REVOCATIONS, 'utf8');
    } catch (e) {
        return true;  // no list (yet): nobody can tell which sessions ended, so none is trusted
    }
    return list.indexOf('\n' + family + '\n') !== -1;
}

function viewer(r) {
    const token = r.variables.cookie_access_token;
    if (!KEY || !token || token.length > 4096) {
        return '';
    }
    const dot = token.lastIndexOf('.');
    if (token.slice(0, HEADER.length + 1) !== HEADER + '.' || dot <= HEADER.length) {
        return '';
    }
    const signature = crypto.createHmac('sha256', KEY).update(token.slice(0, dot)).digest('base64url');
    if (!same(signature, token.slice(dot + 1))) {
        return '';
    }
    const claims = json(token.slice(HEADER.length + 1, dot));
    const now = Date.now() / 1000;
    if (!claims || claims.type !== 'access' || claims.iss !== ISSUER
        || typeof claims.exp !== 'number' || claims.exp <= now || typeof claims.iat !== 'number'
        || typeof claims.sub !== 'string' || !/^[0-9]{1,18}$/.test(claims.sub) || typeof claims.jti !== 'string'
        || typeof claims.fam !== 'string' || claims.fam.length === 0 || claims.fam.length > 64) {
        return '';
    }
    return ended(claims.fam) ? '' : '1';
}

function link(r) {
    const match = SEGMENT.exec(r.uri);
    if (!KEY || !match) {
        return '';
    }
    const expires = Number(match[1]);
    const remaining = Math.floor(expires - Date.now() / 1000);
    if (remaining <= 0) {
        return '';
    }
    const message = match[1] + '/' + match[3] + '/' + match[4];
    const signature = crypto.createHmac('sha256', LINK_KEY).update(message).digest('base64url');
    if (!same(signature, match[2])) {
        return '';
    }
    return String(match[5] === 'index.m3u8' ? Math.min(PLAYLIST_MAX_AGE, remaining) : remaining);
}

function cors_origin(r) {
    const origin = r.headersIn.Origin;
    return origin && ORIGINS.indexOf(origin) !== -1 ? origin : '';
}

export default { viewer, link, cors_origin };
