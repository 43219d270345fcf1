import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import {
  parse, serialize, parseSource, escapeTag, unescapeTag, parseCtcp, splitByBytes, utf8Length, casefold,
} from '../src/irc';

// The vectors live in the shared folder beside the repository: <repo>/../shared/irc-parser-tests
// (this file runs from <repo>/web/.test-build/).
const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(web, '..');
const vectorsDir = process.env.IRC_PARSER_TESTS ?? join(repo, '..', 'shared', 'irc-parser-tests');
if (!existsSync(join(vectorsDir, 'msg-split.yaml'))) {
  throw new Error(
    `IRC parser test vectors not found at ${vectorsDir} (expected <repo>/../shared/irc-parser-tests/msg-split.yaml)`,
  );
}
function load(name: string): any[] {
  const doc = YAML.parse(readFileSync(join(vectorsDir, name), 'utf8'));
  assert.ok(Array.isArray(doc?.tests) && doc.tests.length > 0, `${name} has tests`);
  return doc.tests;
}

test('msg-split vectors', () => {
  const tests = load('msg-split.yaml');
  for (const t of tests) {
    const m = parse(t.input);
    assert.ok(m, `parses ${JSON.stringify(t.input)}`);
    const a = t.atoms;
    assert.deepEqual(m.tags, a.tags ?? {}, `tags of ${JSON.stringify(t.input)}`);
    assert.equal(m.source, a.source ?? undefined, `source of ${JSON.stringify(t.input)}`);
    assert.equal(m.command, a.verb, `verb of ${JSON.stringify(t.input)}`);
    assert.deepEqual(m.params, a.params ?? [], `params of ${JSON.stringify(t.input)}`);
  }
  assert.ok(tests.length >= 30);
});

test('msg-join vectors', () => {
  const tests = load('msg-join.yaml');
  for (const t of tests) {
    const a = t.atoms;
    const s = serialize({ tags: a.tags ?? {}, source: a.source, command: a.verb, params: a.params ?? [] });
    assert.ok(t.matches.includes(s), `${t.desc}: ${JSON.stringify(s)} is one of ${JSON.stringify(t.matches)}`);
    // and it parses back to the same atoms
    const back = parse(s)!;
    assert.deepEqual(back.params, a.params ?? []);
    assert.deepEqual(back.tags, a.tags ?? {});
  }
});

test('userhost-split vectors', () => {
  for (const t of load('userhost-split.yaml')) {
    const s = parseSource(t.source);
    assert.deepEqual(s, { nick: t.atoms.nick ?? '', user: t.atoms.user ?? '', host: t.atoms.host ?? '' }, t.source);
  }
});

test('tag escaping round-trips', () => {
  for (const v of ['a;b c\\d\r\ne', '', '👍', '\\s', ';;']) {
    assert.equal(unescapeTag(escapeTag(v)), v);
  }
  assert.equal(escapeTag('a b;c'), 'a\\sb\\:c');
});

test('serialize never emits CR, LF or NUL', () => {
  const s = serialize({ tags: { '+x': 'a\r\nb' }, command: 'PRIVMSG', params: ['#a', 'line1\r\nline2\0x'] });
  assert.ok(!/[\r\n\0]/.test(s), s);
  assert.equal(serialize({ command: 'PRIVMSG', params: ['#a', ':)'] }), 'PRIVMSG #a ::)');
  assert.equal(serialize({ command: 'PRIVMSG', params: ['#a', 'hi'] }), 'PRIVMSG #a hi');
});

test('ctcp', () => {
  assert.deepEqual(parseCtcp('\x01ACTION waves\x01'), { command: 'ACTION', text: 'waves' });
  assert.deepEqual(parseCtcp('\x01ACTION waves'), { command: 'ACTION', text: 'waves' });
  assert.equal(parseCtcp('hello'), null);
});

test('splitByBytes keeps characters whole', () => {
  const text = '你好，世界'.repeat(100);
  const parts = splitByBytes(text, 100);
  assert.equal(parts.join(''), text);
  for (const p of parts) assert.ok(utf8Length(p) <= 100);
  const words = 'hello world '.repeat(50);
  const wp = splitByBytes(words, 64);
  assert.equal(wp.join(''), words);
});

test('casefold', () => {
  assert.equal(casefold('ＡＬＩＣＥ'), 'alice');
  assert.equal(casefold('Alice'), casefold('aLICE'));
});
