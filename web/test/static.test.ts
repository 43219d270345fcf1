// Static checks of the sources and the built page: nothing that could turn user data into markup
// or code, and nothing the page's Content-Security-Policy would refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('sources never use innerHTML, dangerouslySetInnerHTML, eval or new Function', () => {
  const src = files(join(web, 'src')).filter((f) => /\.(ts|tsx)$/.test(f));
  assert.ok(src.length > 5);
  for (const f of src) {
    const text = readFileSync(f, 'utf8');
    for (const bad of [/innerHTML/, /outerHTML/, /dangerouslySetInnerHTML/, /\beval\s*\(/, /new\s+Function\s*\(/, /insertAdjacentHTML/, /document\.write/]) {
      assert.ok(!bad.test(text), `${f} contains ${bad}`);
    }
  }
});

test('index.html has no inline script or style and references /app.js, /app.css, /icon.svg', () => {
  const html = readFileSync(join(web, 'index.html'), 'utf8');
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'inline script');
  assert.ok(!/<style/i.test(html), '<style>');
  assert.ok(!/\sstyle=/i.test(html), 'style attribute');
  assert.match(html, /<script type="module" src="\/app\.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="\/app\.css">/);
  assert.match(html, /<link rel="icon" href="\/icon\.svg"/);
  assert.ok(!/https?:\/\//.test(html.replace(/<!--[\s\S]*?-->/g, '')), 'no external resources');
});

test('the built files exist and hold no sourcemap or external URL loads', () => {
  for (const f of ['index.html', 'app.js', 'app.css', 'icon.svg']) assert.ok(existsSync(join(web, 'dist', f)), f);
  const js = readFileSync(join(web, 'dist', 'app.js'), 'utf8');
  const css = readFileSync(join(web, 'dist', 'app.css'), 'utf8');
  assert.ok(!/sourceMappingURL/.test(js + css));
  assert.ok(!/@import|url\(\s*['"]?https?:/i.test(css), 'no external CSS');
  assert.ok(!/@font-face/.test(css), 'no web fonts');
});
