#!/usr/bin/env node
// End-to-end test of the web client against a real teahouse server, with Chromium (playwright-core),
// a `teahouse chat` plain-text user and small raw-IRC helpers. Run from the repository root as
// `TEAHOUSE_BIN=target/debug/teahouse node web/e2e/e2e.mjs` (or `npm run e2e` in web/).
//
// Environment: TEAHOUSE_BIN (required), CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR
// (default <repo>/docs/screenshots). Every wait has a timeout; nothing sleeps to synchronise.
// Exits 0 on success, 1 with a message on the first failure. Everything it starts is stopped by
// its process id, and its temporary directory is removed, also on failure.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const T = 15000;
const ALICE_PASSWORD = 'correct horse battery staple';
const BIN = process.env.TEAHOUSE_BIN ? resolve(process.env.TEAHOUSE_BIN) : '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.SCREENSHOT_DIR || join(REPO, 'docs', 'screenshots'));
const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};
const log = (...a) => console.log('[e2e]', ...a);

let step = 'start';
function stepTo(name) {
  step = name;
  log('step:', name);
}

// ---------------------------------------------------------------------------------- processes

const children = new Set();

/** A child process whose output lines can be awaited. */
class Proc {
  constructor(name, cmd, args) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
    this.exited = false;
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this);
    this.exit = new Promise((res) => {
      this.proc.on('exit', (code, sig) => {
        this.exited = true;
        children.delete(this);
        res({ code, sig });
        for (const w of this.waiters) w.check(true);
      });
    });
    this.proc.on('error', (e) => {
      this.lines.push(`(spawn error: ${e.message})`);
      this.exited = true;
      children.delete(this);
    });
    for (const s of [this.proc.stdout, this.proc.stderr]) {
      readline.createInterface({ input: s }).on('line', (l) => this.onLine(l));
    }
    this.proc.stdin.on('error', () => {});
  }
  onLine(l) {
    this.lines.push(l);
    for (const w of [...this.waiters]) w.check(false);
  }
  /** Wait for a line matching pred (lines already seen count too, from index `from`). */
  waitLine(pred, desc, { from = 0, timeout = T } = {}) {
    return new Promise((res, rej) => {
      const w = {
        check: (dead) => {
          for (let i = from; i < this.lines.length; i++) {
            if (pred(this.lines[i])) {
              done();
              res(this.lines[i]);
              return;
            }
          }
          if (dead) {
            done();
            rej(new Failure(`${this.name} exited before: ${desc}\n  last output:\n    ${this.lines.slice(-15).join('\n    ')}`));
          }
        },
      };
      const timer = setTimeout(() => {
        done();
        rej(new Failure(`timed out (${timeout} ms) waiting for ${this.name}: ${desc}\n  last output:\n    ${this.lines.slice(-15).join('\n    ')}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
      };
      this.waiters.push(w);
      w.check(this.exited);
    });
  }
  write(line) {
    if (!this.exited) this.proc.stdin.write(line + '\n');
  }
  /** Stop by pid: SIGTERM, then SIGKILL after a grace period. */
  async stop(grace = 8000) {
    if (this.exited) return;
    try {
      process.kill(this.proc.pid, 'SIGTERM');
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {}
    }, grace);
    await this.exit;
    clearTimeout(t);
  }
}

/** Start `teahouse serve` and read its listening addresses from the JSON log. */
async function startServer(dataDir, addrs) {
  const args = [
    'serve',
    '--text-addr', addrs?.text ?? '127.0.0.1:0',
    '--irc-addr', addrs?.irc ?? '127.0.0.1:0',
    '--web-addr', addrs?.web ?? '127.0.0.1:0',
    '--data-dir', dataDir,
    '--log-format', 'json',
    // The scroll-back step sends 120 lines at once from the line client; flood control (its
    // own tests are in Rust) would spread them over half a minute.
    '--no-flood-control',
  ];
  const p = new Proc('server', BIN, args);
  const found = {};
  const isListening = (l) => {
    try {
      const j = JSON.parse(l);
      if (j?.fields?.message === 'listening' && j.fields.proto && j.fields.addr) found[j.fields.proto] = j.fields.addr;
    } catch {}
    return found.text && found.irc && found.web;
  };
  await p.waitLine(isListening, 'the three "listening" log lines (text, irc, web)');
  for (const k of ['text', 'irc', 'web']) {
    if (!/^127\.0\.0\.1:\d+$/.test(found[k])) fail(`the ${k} listener is not on loopback: ${found[k]}`);
  }
  return { proc: p, addrs: { text: found.text, irc: found.irc, web: found.web } };
}

/**
 * Start the server again on the same ports. While it was down, another test running beside
 * this one (cargo runs an integration binary's tests in parallel) may have got one of those
 * ports for a client connection of its own; such a port is free again within moments, so a
 * start refused with "Address already in use" is tried again, a bounded number of times.
 */
async function restartServer(dataDir, addrs) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(dataDir, addrs);
    } catch (e) {
      const inUse = e instanceof Failure && /Address already in use/.test(e.message);
      if (!inUse || attempt >= 40) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A `teahouse chat` plain-text user. */
async function startChat(textAddr, nick) {
  const p = new Proc(`chat(${nick})`, BIN, ['chat', textAddr, '--nick', nick]);
  await p.waitLine((l) => l.trim() === `Nickname set: ${nick}`, `"Nickname set: ${nick}"`);
  return p;
}

// ---------------------------------------------------------------------------------- raw IRC bots

class Bot {
  constructor(name) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
  }
  connect(addr) {
    const [host, port] = addr.split(':');
    return new Promise((res, rej) => {
      this.sock = net.connect(Number(port), host, () => res());
      this.sock.on('error', rej);
      let buf = '';
      this.sock.on('data', (d) => {
        buf += d.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          if (/^(@\S+ )?(:\S+ )?PING /.test(line)) this.send('PONG ' + line.replace(/^(@\S+ )?(:\S+ )?PING /, ''));
          this.lines.push(line);
          for (const w of [...this.waiters]) w();
        }
      });
    });
  }
  send(line) {
    this.sock.write(line + '\r\n');
  }
  wait(pred, desc, from = 0) {
    return new Promise((res, rej) => {
      const check = () => {
        for (let i = from; i < this.lines.length; i++) {
          if (pred(this.lines[i])) {
            clearTimeout(timer);
            this.waiters = this.waiters.filter((x) => x !== check);
            res(this.lines[i]);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== check);
        rej(new Failure(`timed out waiting for IRC bot ${this.name}: ${desc}\n  last lines:\n    ${this.lines.slice(-10).join('\n    ')}`));
      }, T);
      if (!check()) this.waiters.push(check);
    });
  }
  async register(addr) {
    await this.connect(addr);
    this.send('CAP LS 302');
    this.send(`NICK ${this.name}`);
    this.send(`USER ${this.name} 0 * :${this.name}`);
    this.send('CAP REQ :message-tags server-time echo-message batch draft/chathistory');
    this.send('CAP END');
    await this.wait((l) => / 001 /.test(l), '001');
  }
  async join(chan) {
    const from = this.lines.length;
    this.send(`JOIN ${chan}`);
    await this.wait((l) => new RegExp(`^(@\\S+ )?:${this.name}!\\S+ JOIN :?${chan.replace('#', '\\#')}`).test(l), `JOIN ${chan}`, from);
  }
  /** Send a PRIVMSG and return the msgid of its echo. */
  async say(chan, text, tags = '') {
    const from = this.lines.length;
    this.send(`${tags ? '@' + tags + ' ' : ''}PRIVMSG ${chan} :${text}`);
    const echo = await this.wait((l) => l.includes(`:${this.name}!`) && l.includes(` PRIVMSG ${chan} :${text}`), `echo of "${text}"`, from);
    return /(?:^@|;)msgid=([^; ]+)/.exec(echo)?.[1];
  }
  close() {
    try {
      this.send('QUIT :bye');
      this.sock.end();
      this.sock.destroy();
    } catch {}
  }
}

// ---------------------------------------------------------------------------------- pages

const pageProblems = [];

async function newUser(browser, webAddr, nick, { locale = 'en-US', colorScheme = 'light', viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ locale, colorScheme, viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => pageProblems.push(`${nick}: page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy|Refused to/i.test(text)) pageProblems.push(`${nick}: CSP violation: ${text}`);
  });
  page.on('dialog', (d) => d.accept());
  await page.goto(`http://${webAddr}/`);
  if (nick) {
    await page.locator('input[name=nick]').fill(nick);
    await page.locator('input[name=nick]').press('Enter');
    await connected(page, nick);
    // A new page lands in #lobby once the server's welcome is over; typing before that would go
    // to the server view, and the switch to the room would carry the view away from the text.
    await page.locator('.buf-title', { hasText: '#lobby' }).waitFor().catch(() => fail(`${nick}: the page did not land in #lobby`));
  }
  return { context, page, nick };
}

async function connected(page, who, timeout = T) {
  await page.locator('.conn-connected').waitFor({ state: 'attached', timeout }).catch(() => fail(`${who}: the page did not reach "connected" within ${timeout} ms`));
}

const logOf = (page) => page.locator('[role=log]');

async function seeText(page, text, who, desc, timeout = T) {
  await logOf(page)
    .getByText(text, { exact: false })
    .first()
    .waitFor({ state: 'attached', timeout })
    .catch(() => fail(`${who}: did not see ${desc ?? JSON.stringify(text)} in the message list`));
}

async function seeNotice(page, text, who) {
  await logOf(page)
    .locator('.msg.sys', { hasText: text })
    .first()
    .waitFor({ state: 'attached' })
    .catch(() => fail(`${who}: no system notice ${JSON.stringify(text)}`));
}

async function send(page, text) {
  const box = page.locator('textarea[name=message]');
  await box.fill(text);
  await box.press('Enter');
}

async function openBuffer(page, name) {
  const btn = page.locator(`nav[role=navigation] button[data-buffer="${name}"]`);
  if (!(await btn.isVisible())) {
    const menu = page.locator('.menu-btn');
    if (await menu.isVisible()) await menu.click();
  }
  await btn.click();
  await page.locator('.buf-title', { hasText: name }).waitFor();
}

async function countInLog(page, text) {
  // the message lines themselves, not quotes of them in replies
  return await logOf(page).locator('.msg .line', { hasText: text }).count();
}

async function expectCount(page, text, n, who) {
  const c = await countInLog(page, text);
  if (c !== n) fail(`${who}: expected ${n} message(s) containing ${JSON.stringify(text)}, found ${c} (duplicates or missing)`);
}

async function waitGone(page, text, who) {
  await logOf(page)
    .locator('.msg', { hasText: text })
    .first()
    .waitFor({ state: 'detached' })
    .catch(() => fail(`${who}: the message ${JSON.stringify(text)} was not removed`));
}

// ---------------------------------------------------------------------------------- the test

async function main() {
  if (!BIN) fail('TEAHOUSE_BIN is not set (path of the teahouse binary)');
  if (!existsSync(BIN)) fail(`TEAHOUSE_BIN=${BIN} does not exist`);
  if (!existsSync(CHROMIUM)) fail(`Chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  const tmp = mkdtempSync(join(tmpdir(), 'teahouse-e2e-'));
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir);
  let server;
  let browser;
  const chats = [];
  const bots = [];
  const pages = [];
  try {
    stepTo('start the server');
    server = await startServer(dataDir);
    const { web, text, irc } = server.addrs;
    log('listening:', server.addrs);

    stepTo('launch Chromium');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROME_ARGS });

    stepTo('bob opens the page and chooses a nickname');
    const bob = await newUser(browser, web, 'bob');
    pages.push(bob);
    await bob.page.locator('.buf-title', { hasText: '#lobby' }).waitFor();

    stepTo('carol enters with teahouse chat; bob sees her join');
    const carol = await startChat(text, 'carol');
    chats.push(carol);
    await seeNotice(bob.page, 'carol joined #lobby', 'bob');

    stepTo('alice opens the page; carol and bob see her enter');
    const alice = await newUser(browser, web, 'alice');
    pages.push(alice);
    await carol.waitLine((l) => l.trim() === '* alice entered the room', '"* alice entered the room"');
    await seeNotice(bob.page, 'alice joined #lobby', 'bob');

    stepTo('messages both ways, Chinese included');
    await send(alice.page, 'hello from alice');
    await seeText(bob.page, 'hello from alice', 'bob');
    await carol.waitLine((l) => l.trim() === 'alice: hello from alice', '"alice: hello from alice"');
    carol.write('你好，世界');
    await seeText(alice.page, '你好，世界', 'alice');
    await seeText(bob.page, '你好，世界', 'bob');
    await send(bob.page, 'bob 说：你好，世界！');
    await carol.waitLine((l) => l.trim() === 'bob: bob 说：你好，世界！', '"bob: bob 说：你好，世界！"');
    await seeText(alice.page, 'bob 说：你好，世界！', 'alice');
    await expectCount(bob.page, 'hello from alice', 1, 'bob');
    await expectCount(alice.page, 'hello from alice', 1, 'alice (own message, echo deduplicated)');

    stepTo('nick change on a page: /nick alice2');
    await send(alice.page, '/nick alice2');
    await seeNotice(bob.page, 'alice is now known as alice2', 'bob');
    await carol.waitLine((l) => l.trim() === '* alice is now known as alice2', '"* alice is now known as alice2"');
    await alice.page.locator('.me-btn .nick', { hasText: 'alice2' }).waitFor({ state: 'attached' });

    stepTo('a direct message between the pages');
    await send(alice.page, '/msg bob psst, a secret for bob');
    await alice.page.locator('.buf-title', { hasText: 'bob' }).waitFor();
    await seeText(alice.page, 'psst, a secret for bob', 'alice');
    await bob.page.locator('nav[role=navigation] button[data-buffer="alice2"]').waitFor().catch(() => fail('bob: no DM buffer for alice2 in the sidebar'));
    await bob.page.locator('nav[role=navigation] button[data-buffer="alice2"] .badge').waitFor().catch(() => fail('bob: the DM has no unread badge'));
    await openBuffer(bob.page, 'alice2');
    await seeText(bob.page, 'psst, a secret for bob', 'bob');
    await send(bob.page, 'got it, thanks');
    await seeText(alice.page, 'got it, thanks', 'alice');
    await openBuffer(bob.page, '#lobby');
    await openBuffer(alice.page, '#lobby');

    stepTo('reply and reaction from the action bar');
    const aliceMsg = logOf(bob.page).locator('.msg', { hasText: 'hello from alice' }).first();
    await aliceMsg.hover();
    await aliceMsg.getByRole('button', { name: 'Reply' }).click();
    await bob.page.locator('.replying').waitFor();
    await send(bob.page, 'welcome, alice!');
    const replyRow = logOf(alice.page).locator('.msg', { hasText: 'welcome, alice!' }).first();
    await replyRow.locator('.quote', { hasText: 'hello from alice' }).waitFor().catch(() => fail('alice: the reply does not quote the original'));
    await replyRow.hover();
    await replyRow.getByRole('button', { name: 'Add reaction' }).click();
    await replyRow.getByRole('button', { name: 'React with 👍' }).click();
    const reaction = logOf(bob.page).locator('.msg', { hasText: 'welcome, alice!' }).locator('.reaction', { hasText: '👍' });
    await reaction.waitFor().catch(() => fail('bob: the 👍 reaction is not shown under the message'));
    const title = await reaction.getAttribute('title');
    if (!title || !title.includes('alice2')) fail(`bob: the reaction does not say who reacted (title=${title})`);
    if ((await reaction.locator('.count').innerText()).trim() !== '1') fail('bob: the reaction count is not 1');
    // bob clicks it: now two
    await reaction.click();
    await logOf(alice.page).locator('.msg', { hasText: 'welcome, alice!' }).locator('.reaction .count', { hasText: '2' }).waitFor().catch(() => fail('alice: the reaction count did not reach 2'));

    stepTo('delete (REDACT) an own message');
    await send(alice.page, 'oops, this was for another room');
    await seeText(bob.page, 'oops, this was for another room', 'bob');
    const oops = logOf(alice.page).locator('.msg', { hasText: 'oops, this was for another room' }).first();
    await logOf(alice.page).locator('.msg[data-msgid]', { hasText: 'oops, this was for another room' }).waitFor();
    await oops.hover();
    await oops.getByRole('button', { name: 'Delete' }).click();
    await waitGone(bob.page, 'oops, this was for another room', 'bob');
    await waitGone(alice.page, 'oops, this was for another room', 'alice');

    stepTo('hostile payloads as messages and as the topic');
    const marks = '\u0301'.repeat(2000); // 4000 bytes of combining marks
    const hostile = ['<img src=x onerror=window.__pwned=1>', 'javascript:alert(1)', 'bidi \u202Egnp.exe\u202C end', 'Z' + marks];
    for (const h of hostile) await send(alice.page, h);
    await seeText(bob.page, '<img src=x onerror=window.__pwned=1>', 'bob', 'the <img> payload as text');
    await seeText(bob.page, 'javascript:alert(1)', 'bob');
    await seeText(bob.page, 'gnp.exe', 'bob');
    await logOf(bob.page).locator('.msg', { hasText: /^.*Z\u0301/ }).first().waitFor({ state: 'attached' }).catch(() => fail('bob: the combining-marks message did not arrive'));
    const topic = '<img src=x onerror=window.__pwned=1> javascript:alert(1) \u202Eevil\u202C ' + 'T' + '\u0301'.repeat(150);
    await send(bob.page, '/topic ' + topic); // bob entered #lobby first: operator
    await alice.page.locator('.topic-text', { hasText: '<img src=x onerror=window.__pwned=1>' }).waitFor().catch(() => fail('alice: the hostile topic is not shown as text'));
    for (const u of [alice, bob]) {
      const p = u.page;
      const pwned = await p.evaluate(() => window.__pwned);
      if (pwned !== undefined) fail(`${u.nick}: window.__pwned is ${pwned}: a payload ran`);
      const jsLinks = await p.locator('a[href^="javascript:"]').count();
      if (jsLinks) fail(`${u.nick}: ${jsLinks} javascript: link(s) in the page`);
      const imgs = await p.locator('[role=log] img, .topic img').count();
      if (imgs) fail(`${u.nick}: user text became an <img>`);
      const facts = await p.evaluate(() => {
        const text = (document.querySelector('[role=log]')?.textContent ?? '') + (document.querySelector('.topic')?.textContent ?? '');
        let longest = 0;
        for (const m of text.matchAll(/\p{M}+/gu)) longest = Math.max(longest, m[0].length);
        const rows = [...document.querySelectorAll('[role=log] .msg')].filter((r) => (r.textContent ?? '').includes('Z\u0301'));
        const rowHeight = rows.length ? rows[rows.length - 1].getBoundingClientRect().height : -1;
        const bar = document.querySelector('.bar')?.getBoundingClientRect().height ?? -1;
        return { bidi: /[\u202A-\u202E\u2066-\u2069]/.test(text), longest, rowHeight, bar, width: document.documentElement.scrollWidth, vw: innerWidth };
      });
      if (facts.bidi) fail(`${u.nick}: a bidi override character reached the rendered text`);
      if (facts.longest > 3) fail(`${u.nick}: a run of ${facts.longest} combining marks was rendered (clamp is 3)`);
      if (facts.rowHeight < 0 || facts.rowHeight > 120) fail(`${u.nick}: the combining-marks message is ${facts.rowHeight}px tall`);
      if (facts.bar > 120) fail(`${u.nick}: the header with the hostile topic is ${facts.bar}px tall`);
      if (facts.width > facts.vw + 1) fail(`${u.nick}: the page scrolls sideways (${facts.width} > ${facts.vw})`);
    }
    const carolSawImg = carol.lines.some((l) => l.includes('alice2: <img src=x onerror=window.__pwned=1>'));
    if (!carolSawImg) await carol.waitLine((l) => l.includes('alice2: <img src=x onerror=window.__pwned=1>'), 'the payload as plain text');

    stepTo('reload: the room looks as it was (history re-fetched)');
    await alice.page.reload();
    await connected(alice.page, 'alice2 after reload');
    await alice.page.locator('.buf-title', { hasText: '#lobby' }).waitFor();
    await seeText(alice.page, 'hello from alice', 'alice2 after reload');
    await seeText(alice.page, '你好，世界', 'alice2 after reload');
    await alice.page.locator('nav[role=navigation] button[data-buffer="bob"]').waitFor().catch(() => fail('alice2 after reload: the DM with bob is gone'));
    await expectCount(alice.page, 'hello from alice', 1, 'alice2 after reload');
    // Replies and reactions come back with the history (reactions are stored as TAGMSGs).
    const reloadedReply = logOf(alice.page).locator('.msg', { hasText: 'welcome, alice!' }).first();
    await reloadedReply.locator('.quote', { hasText: 'hello from alice' }).waitFor().catch(() => fail('alice2 after reload: the reply lost its quote'));
    await reloadedReply.locator('.reaction .count', { hasText: '2' }).waitFor().catch(() => fail('alice2 after reload: the reactions were not kept'));
    if ((await alice.page.locator('.me-btn .nick').innerText()).trim() !== 'alice2') fail('alice2 after reload: the nick was not kept');

    stepTo('register the nickname from the page; a reload logs in again with SASL');
    await alice.page.locator('.me-btn').click();
    await alice.page.locator('.dialog input[name=register-password]').fill(ALICE_PASSWORD);
    await alice.page.locator('.dialog input[type=checkbox]').check();
    await alice.page.locator('.dialog button[type=submit]').click();
    await alice.page.locator('.dialog .ok').waitFor().catch(() => fail('alice2: no REGISTER SUCCESS shown in the account dialog'));
    await alice.page.keyboard.press('Escape');
    await alice.page.locator('.dialog').waitFor({ state: 'detached' });
    await alice.page.locator('.me-btn .acct', { hasText: 'Logged in as alice2' }).waitFor().catch(() => fail('alice2: not shown as logged in after registering'));
    await alice.page.reload();
    await connected(alice.page, 'alice2 after reload (SASL)');
    await alice.page.locator('.me-btn .acct', { hasText: 'Logged in as alice2' }).waitFor().catch(() => fail('alice2: the reload did not log in with the saved password'));

    stepTo('scroll-back: 120 messages, reload, scroll to the top');
    const N = 120;
    const label = (i) => `scrollback line ${String(i).padStart(3, '0')}`;
    for (let i = 1; i <= N; i++) carol.write(label(i));
    await seeText(bob.page, label(N), 'bob', `"${label(N)}"`, 60000);
    await bob.page.reload();
    await connected(bob.page, 'bob after reload');
    await seeText(bob.page, label(N), 'bob after reload');
    const first = logOf(bob.page).locator('.msg', { hasText: label(1) });
    const deadline = Date.now() + 60000;
    while (!(await first.count())) {
      if (Date.now() > deadline) fail(`bob: scrolling to the top did not bring back "${label(1)}"`);
      const before = await logOf(bob.page).locator('.msg').count();
      await logOf(bob.page).evaluate((el) => {
        el.scrollTop = 0;
      });
      // the older page arrives: there are more rows than before
      await logOf(bob.page)
        .locator('.msg')
        .nth(before)
        .waitFor({ state: 'attached' })
        .catch(() => fail(`bob: reaching the top loaded no older messages (still ${before} rows)`));
    }
    for (const i of [1, 2, 50, 51, 99, 100, N]) await expectCount(bob.page, label(i), 1, 'bob after scroll-back');
    // the reader stays where they were: the top of the list is not the newest message
    const scroll = await logOf(bob.page).evaluate((el) => ({ top: el.scrollTop, h: el.scrollHeight, c: el.clientHeight }));
    if (scroll.h - scroll.top - scroll.c < 200) fail('bob: the scroll position jumped to the bottom after loading older messages');

    stepTo('server restart: the pages reconnect by themselves');
    await server.proc.stop();
    await carol.stop(3000);
    await bob.page.locator('.conn-reconnecting, .conn-connecting').first().waitFor({ state: 'attached' }).catch(() => fail('bob: no "reconnecting" state after the server stopped'));
    await alice.page.locator('.conn-reconnecting, .conn-connecting').first().waitFor({ state: 'attached' }).catch(() => fail('alice2: no "reconnecting" state after the server stopped'));
    await bob.page.getByText(/Reconnecting in \d+ s/).first().waitFor().catch(() => fail('bob: the reconnect countdown is not shown'));
    server = await restartServer(dataDir, server.addrs);
    if (server.addrs.web !== web || server.addrs.text !== text || server.addrs.irc !== irc) fail('the server did not come back on the same ports');
    await connected(bob.page, 'bob after the restart', 40000);
    await connected(alice.page, 'alice2 after the restart', 40000);
    await send(alice.page, 'back after the restart');
    await seeText(bob.page, 'back after the restart', 'bob');
    await expectCount(bob.page, 'back after the restart', 1, 'bob');
    await expectCount(bob.page, label(N), 1, 'bob after the restart');
    await expectCount(alice.page, 'hello from alice', 1, 'alice2 after the restart');

    stepTo('carol comes back; a page closing is seen by carol');
    const carol2 = await startChat(text, 'carol');
    chats.push(carol2);
    await seeNotice(alice.page, 'carol joined #lobby', 'alice2');

    stepTo('screenshots');
    await screenshots(browser, server.addrs);

    stepTo('bob closes his page: carol sees him leave');
    await bob.context.close();
    pages.splice(pages.indexOf(bob), 1);
    await carol2.waitLine((l) => l.trim().startsWith('* bob left the room'), '"* bob left the room"');

    stepTo('carol quits: the page shows that she left');
    carol2.write('quit');
    await carol2.exit;
    await seeNotice(alice.page, 'carol quit', 'alice2');

    stepTo('a registered nickname asks for its password on another device');
    await alice.context.close();
    pages.splice(pages.indexOf(alice), 1);
    const other = await newUser(browser, web, '');
    pages.push(other);
    other.nick = 'alice2 (other device)';
    const from = carol2.lines.length;
    await other.page.locator('input[name=nick]').fill('alice2');
    await other.page.locator('input[name=nick]').press('Enter');
    await other.page.locator('input[name=password]').waitFor().catch(() => fail('other device: no password field for the registered nickname'));
    await other.page.locator('[role=alert]', { hasText: 'registered' }).waitFor().catch(() => fail('other device: the page does not say the nickname is registered'));
    await other.page.locator('input[name=password]').fill('not the password');
    await other.page.locator('input[name=password]').press('Enter');
    await other.page.locator('[role=alert]', { hasText: 'Wrong password' }).waitFor().catch(() => fail('other device: a wrong password is not reported'));
    await other.page.locator('input[name=password]').fill(ALICE_PASSWORD);
    await other.page.locator('input[name=password]').press('Enter');
    await connected(other.page, 'other device with the right password');
    await other.page.locator('.me-btn .acct', { hasText: 'Logged in as alice2' }).waitFor();
    void from;

    if (pageProblems.length) fail('problems in the pages:\n  ' + pageProblems.join('\n  '));
    log('PASS');
  } catch (e) {
    if (pages.length) {
      for (const u of pages) {
        const f = join(tmpdir(), `teahouse-e2e-failure-${u.nick}.png`);
        await u.page.screenshot({ path: f }).then(() => log('failure screenshot:', f)).catch(() => {});
      }
    }
    throw e;
  } finally {
    for (const b of bots) b.close();
    if (browser) await browser.close().catch(() => {});
    for (const c of [...children]) await c.stop(3000);
    rmSync(tmp, { recursive: true, force: true });
  }

  async function screenshots(browser, addrs) {
    mkdirSync(SHOTS, { recursive: true });
    // The scene: two IRC users in #tea with a topic, messages, a link, an action, a reply.
    const sam = new Bot('sam');
    const lin = new Bot('lin');
    const ken = new Bot('ken');
    bots.push(sam, lin, ken);
    await sam.register(addrs.irc);
    await lin.register(addrs.irc);
    await ken.register(addrs.irc);
    await sam.join('#tea');
    await lin.join('#tea');
    sam.send('TOPIC #tea :Tea talk: oolong, pu-erh and green · 茶话会 · https://example.com/tea');
    await sam.say('#tea', 'Good morning! Who is brewing today?');
    const linMsg = await lin.say('#tea', 'Tieguanyin, second steep. Notes here: https://en.wikipedia.org/wiki/Tieguanyin');
    await sam.say('#tea', 'Nice, rinse the leaves first and keep it under 95 °C.', `+draft/reply=${linMsg}`);
    await lin.say('#tea', '\x01ACTION pours another cup\x01');
    const zhMsg = await lin.say('#tea', '你好，世界！今天喝什么茶？');
    const shots = [];
    for (const lang of ['en', 'zh']) for (const device of ['desktop', 'phone']) for (const theme of ['light', 'dark']) shots.push({ lang, device, theme });
    let n = 0;
    for (const s of shots) {
      n++;
      const viewer = 'mei';
      const viewport = s.device === 'desktop' ? { width: 1280, height: 800 } : { width: 360, height: 740 };
      const from = sam.lines.length;
      const u = await newUser(browser, addrs.web, viewer, { locale: s.lang === 'zh' ? 'zh-CN' : 'en-US', colorScheme: s.theme, viewport });
      pages.push(u);
      await send(u.page, '/join #tea');
      await u.page.locator('.buf-title', { hasText: '#tea' }).waitFor();
      await sam.wait((l) => / JOIN :?#tea/.test(l) && l.includes(`:${viewer}!`), `${viewer} joins #tea`, from);
      await seeText(u.page, '你好，世界！今天喝什么茶？', viewer);
      // live: a reaction or two, and a system notice
      sam.send(`@+draft/react=👍;+draft/reply=${linMsg} TAGMSG #tea`);
      lin.send(`@+draft/react=🍵;+draft/reply=${zhMsg} TAGMSG #tea`);
      sam.send(`@+draft/react=🍵;+draft/reply=${zhMsg} TAGMSG #tea`);
      await ken.join('#tea');
      const joinText = s.lang === 'zh' ? '系统消息ken进入了聊天室' : 'ken joined #tea';
      await seeNotice(u.page, joinText, viewer);
      await logOf(u.page).locator('.reaction .count', { hasText: '2' }).waitFor();
      await u.page.locator('textarea[name=message]').fill(s.lang === 'zh' ? '我来一杯铁观音' : 'Count me in for a cup');
      if (s.device === 'desktop') await u.page.locator('textarea[name=message]').focus();
      else await u.page.locator('textarea[name=message]').blur();
      await u.page.evaluate(() => document.fonts.ready);
      const file = join(SHOTS, `${s.lang}-${s.device}-${s.theme}.png`);
      await u.page.screenshot({ path: file });
      log('screenshot', file, statSync(file).size, 'bytes');
      const fromQuit = sam.lines.length;
      await u.context.close();
      pages.splice(pages.indexOf(u), 1);
      await sam.wait((l) => l.includes(`:${viewer}!`) && / QUIT/.test(l), `${viewer} leaves`, fromQuit);
      const fromPart = sam.lines.length;
      ken.send('PART #tea');
      await sam.wait((l) => l.includes(':ken!') && / PART/.test(l), 'ken leaves #tea', fromPart);
    }
    log(`${n} screenshots in ${SHOTS}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`\n[e2e] FAILED at step "${step}": ${e instanceof Failure ? e.message : e?.stack ?? e}`);
    process.exit(1);
  },
);
