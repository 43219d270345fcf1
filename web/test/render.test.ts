import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderText, cleanText, cleanLabel, safeHref, linkify, trimLink, nickColor, mentions, plainText, parseFormatting } from '../src/render';

const links = (s: string) => renderText(s).filter((x) => x.type === 'link').map((x) => (x as { href: string }).href);
const joinText = (s: string) => renderText(s).map((x) => x.text).join('');

test('markup stays text', () => {
  const payload = '<img src=x onerror=window.__pwned=1>';
  const segs = renderText(payload);
  assert.deepEqual(segs, [{ type: 'text', text: payload }]);
  assert.equal(links('<script>alert(1)</script>').length, 0);
});

test('javascript: and other schemes are never links', () => {
  for (const s of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:msgbox', 'file:///etc/passwd', 'java\tscript:alert(1)', 'javascript://example.com/%0Aalert(1)']) {
    assert.deepEqual(links(s), [], s);
    assert.equal(safeHref(s), null, s);
  }
  assert.equal(safeHref('http://'), null);
});

test('allowed schemes become links', () => {
  assert.deepEqual(links('see https://example.com/a?b=c#d ok'), ['https://example.com/a?b=c#d']);
  assert.deepEqual(links('http://x.org'), ['http://x.org/']);
  assert.deepEqual(links('mail mailto:a@b.org now'), ['mailto:a@b.org']);
  assert.deepEqual(links('join irc://irc.example.net/#chan'), ['irc://irc.example.net/#chan']);
  assert.deepEqual(links('ircs://irc.example.net:6697/#x'), ['ircs://irc.example.net:6697/#x']);
  assert.deepEqual(links('www.example.com'), ['https://www.example.com/']);
});

test('trailing punctuation is not part of a link', () => {
  assert.deepEqual(links('look at https://example.com/page.'), ['https://example.com/page']);
  assert.deepEqual(links('(see https://example.com/x)'), ['https://example.com/x']);
  assert.deepEqual(links('https://en.wikipedia.org/wiki/Tea_(disambiguation)'), ['https://en.wikipedia.org/wiki/Tea_(disambiguation)']);
  assert.deepEqual(links('https://example.com/a, https://example.com/b!'), ['https://example.com/a', 'https://example.com/b']);
  assert.deepEqual(links('"https://example.com/q"'), ['https://example.com/q']);
  assert.deepEqual(links('链接https://example.com/中文，好'), ['https://example.com/%E4%B8%AD%E6%96%87']);
  assert.equal(trimLink('https://x.org/?a=1;'), 'https://x.org/?a=1');
  // the text around the link is kept exactly
  assert.equal(joinText('look at https://example.com/page.'), 'look at https://example.com/page.');
});

test('bidi override and isolate controls are removed', () => {
  const s = 'abc\u202Eevil\u202C def \u2066x\u2069 \u202A\u202B\u202D\u2067\u2068';
  const out = joinText(s);
  assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(out), JSON.stringify(out));
  assert.equal(out, 'abcevil def x ');
  assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(cleanLabel('ni\u202Eck')));
});

test('combining mark runs are clamped to 3 per base character', () => {
  const zalgo = 'a' + '\u0301'.repeat(4096) + 'b';
  const out = joinText(zalgo);
  assert.equal(out, 'a\u0301\u0301\u0301b');
  const many = ('x' + '\u0301'.repeat(10)).repeat(50);
  for (const m of joinText(many).matchAll(/\p{M}+/gu)) assert.ok(m[0].length <= 3);
  // normal accents are untouched
  assert.equal(cleanText('café Zoë ế'), 'café Zoë ế');
  assert.equal(cleanText('नमस्ते'), 'नमस्ते');
});

test('absurdly long text is capped', () => {
  const out = joinText('x'.repeat(100000));
  assert.ok(out.length <= 8193, String(out.length));
  assert.ok(out.endsWith('…'));
});

test('control characters are dropped, newlines kept in bodies and not in labels', () => {
  assert.equal(cleanText('a\x00b\x07c\x1b[31md\nе'), 'abc[31md\nе');
  assert.equal(cleanLabel('a\nb'), 'a b');
});

test('IRC formatting becomes styles, not text', () => {
  const runs = parseFormatting('\x02bold\x02 \x0304red\x03 \x1Dit\x0F plain');
  assert.deepEqual(runs, [
    { text: 'bold', style: { bold: true } },
    { text: ' ' },
    { text: 'red', style: { fg: 4 } },
    { text: ' ' },
    { text: 'it', style: { italic: true } },
    { text: ' plain' },
  ]);
  assert.equal(plainText('\x02x\x02\x0312,1y'), 'xy');
  const segs = linkify('go https://a.org now', { bold: true });
  assert.deepEqual(segs[1], { type: 'link', text: 'https://a.org', href: 'https://a.org/', style: { bold: true } });
});

test('nick colours are stable and spread', () => {
  assert.equal(nickColor('alice'), nickColor('ALICE'));
  const seen = new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', '小明', 'zoë'].map(nickColor));
  assert.ok(seen.size >= 6);
  for (const c of seen) assert.ok(c >= 0 && c < 16);
});

test('mentions match the nick as a word', () => {
  assert.ok(mentions('hey alice!', 'alice'));
  assert.ok(mentions('Alice: hi', 'alice'));
  assert.ok(!mentions('malice aforethought', 'alice'));
  assert.ok(!mentions('alice2 is here', 'alice'));
  assert.ok(mentions('你好 小明', '小明'));
});
