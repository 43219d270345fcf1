// Builds the web client into dist/: index.html, app.js, app.css, icon.svg.
// Deterministic: same sources and lockfile give the same bytes (no timestamps, hashes or sourcemaps).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, 'dist');
const FILES = ['index.html', 'app.js', 'app.css', 'icon.svg'];
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  write: false,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  absWorkingDir: web,
};

const js = await build({
  ...common,
  entryPoints: [join(web, 'src/main.tsx')],
  outfile: join(dist, 'app.js'),
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  define: { 'process.env.NODE_ENV': '"production"' },
});
const css = await build({
  ...common,
  entryPoints: [join(web, 'src/style.css')],
  outfile: join(dist, 'app.css'),
  target: ['chrome90', 'firefox90', 'safari15'],
});

const out = {
  'app.js': js.outputFiles[0].contents,
  'app.css': css.outputFiles[0].contents,
  'index.html': readFileSync(join(web, 'index.html')),
  'icon.svg': readFileSync(join(web, 'icon.svg')),
};
const html = Buffer.from(out['index.html']).toString('utf8');
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) || /<style/i.test(html) || /\sstyle=/i.test(html)) {
  throw new Error('index.html must have no inline script or style (the page runs under a strict CSP)');
}
for (const f of readdirSync(dist)) if (!FILES.includes(f)) rmSync(join(dist, f), { recursive: true, force: true });
for (const f of FILES) writeFileSync(join(dist, f), out[f]);
for (const f of FILES) console.log(`dist/${f}  ${out[f].length} bytes`);
