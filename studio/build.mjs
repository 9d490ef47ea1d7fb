// Builds the Studio into the Python package (src/videoflix/entrypoints/http/studio/), where the app serves it
// at /studio/: index.html (never cached) and assets/ with content-hashed names (cached for a year).
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'videoflix', 'entrypoints', 'http', 'studio');
const assets = join(out, 'assets');

await rm(out, { recursive: true, force: true });
await mkdir(assets, { recursive: true });
const result = await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: assets,
  entryNames: 'studio-[hash]',
  assetNames: 'studio-[hash]',
  metafile: true,
  legalComments: 'linked', // the libraries' licence texts travel with the bundle
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
const script = outputs.find((name) => name.endsWith('.js'));
const style = outputs.find((name) => name.endsWith('.css'));
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>Videoflix Studio</title>
<link rel="stylesheet" href="/studio/assets/${style}">
<script type="module" src="/studio/assets/${script}"></script>
</head>
<body>
<div id="studio"></div>
<noscript>The Videoflix Studio needs JavaScript.</noscript>
</body>
</html>
`;
await writeFile(join(out, 'index.html'), page);
console.log(`studio: built ${outputs.join(', ')} into ${out}`);
