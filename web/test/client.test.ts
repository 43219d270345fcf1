import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, MemStorage, register, welcome, joined, lastLabel, ALL_CAPS } from './helpers';
import { unreadCount, mentionCount, SERVER_KEY } from '../src/store';
import { parse } from '../src/irc';

/** Times before the helper's 50 history messages (10:00). */
const E = (s: number) => new Date(Date.parse('2026-01-10T09:00:00.000Z') + s * 1000).toISOString();
const T = (s: number) => new Date(Date.parse('2026-01-10T11:00:00.000Z') + s * 1000).toISOString();

test('registration: CAP LS 302, NICK, USER, CAP REQ, CAP END, then joins #lobby and asks for history', () => {
  const h = new Harness();
  h.client.start();
  assert.equal(h.client.state.conn.status, 'picker');
  h.client.login('alice', null, false);
  assert.equal(h.client.state.conn.status, 'connecting');
  const first = h.open();
  assert.deepEqual(first, ['CAP LS 302', 'NICK alice', 'USER alice 0 * :teahouse web']);
  h.sock.recv(':srv CAP * LS * :message-tags server-time', ':srv CAP * LS :' + ALL_CAPS);
  const req = h.sock.take();
  assert.equal(req.length, 1);
  assert.match(req[0], /^CAP REQ :/);
  for (const c of ['echo-message', 'batch', 'labeled-response', 'draft/chathistory', 'draft/read-marker', 'draft/message-redaction', 'draft/multiline', 'multi-prefix', 'sasl']) {
    assert.ok(req[0].includes(c), c);
  }
  h.sock.recv(':srv CAP * ACK :' + req[0].replace('CAP REQ :', ''));
  assert.deepEqual(h.sock.take(), ['CAP END']);
  welcome(h, 'alice');
  assert.equal(h.client.state.conn.status, 'connected');
  const after = h.sock.take();
  assert.ok(after.includes('JOIN #lobby'), JSON.stringify(after));
  assert.ok(after.some((f) => /CHATHISTORY TARGETS timestamp=\S+ timestamp=\S+ 50$/.test(f)));
  assert.equal(h.storage.getItem('teahouse.nick'), 'alice');
  h.sock.recv(':alice!~alice@127.0.0.1 JOIN #lobby * :teahouse web');
  const hist = h.sock.take();
  assert.ok(hist.some((f) => /CHATHISTORY LATEST #lobby \* 50$/.test(f)), JSON.stringify(hist));
  assert.equal(h.client.state.active, '#lobby');
  assert.ok(h.client.state.buffers['#lobby'].joined);
});

test('PING gets PONG', () => {
  const h = joined();
  h.sock.recv('PING :abc');
  assert.deepEqual(h.sock.take(), ['PONG abc']);
});

test('433 at first login goes back to the picker; on reconnect a variant nick is tried', () => {
  const h = new Harness();
  h.client.login('alice', null, false);
  h.open();
  h.sock.recv(':srv 433 * alice :Nickname is already in use');
  assert.equal(h.client.state.conn.status, 'picker');
  assert.equal(h.client.state.conn.pickerError?.key, 'nickTaken');
  assert.equal(h.client.state.conn.needPassword, false);

  // A saved nick (later visit): try alice_ instead.
  const s = new MemStorage();
  s.setItem('teahouse.nick', 'bob');
  const h2 = new Harness(s);
  h2.client.start();
  h2.open();
  h2.sock.recv(':srv 433 * bob :Nickname is already in use');
  assert.deepEqual(h2.sock.take(), ['NICK bob_']);
  assert.equal(h2.client.state.conn.status, 'connecting');
});

test('433 for a registered nick asks for the password, then SASL PLAIN logs in', () => {
  const h = new Harness();
  h.client.login('alice', null, false);
  h.open();
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  h.sock.recv(':srv CAP * ACK :sasl');
  h.sock.take();
  h.sock.recv(':srv 433 * alice :Nickname is registered to an account; log in (SASL) to use it');
  assert.equal(h.client.state.conn.status, 'picker');
  assert.equal(h.client.state.conn.needPassword, true);
  assert.equal(h.client.state.conn.pickerError?.key, 'nickRegistered');
  assert.ok(h.sock.closed);

  h.client.login('alice', 'sekret', true);
  h.open();
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  h.sock.take();
  h.sock.recv(':srv CAP * ACK :sasl message-tags');
  assert.deepEqual(h.sock.take(), ['AUTHENTICATE PLAIN']);
  h.sock.recv('AUTHENTICATE +');
  const auth = h.sock.take();
  assert.equal(auth.length, 1);
  const b64 = auth[0].split(' ')[1];
  assert.equal(Buffer.from(b64, 'base64').toString('utf8'), '\0alice\0sekret');
  h.sock.recv(':srv 900 alice alice!~alice@127.0.0.1 alice :You are now logged in as alice', ':srv 903 alice :SASL authentication successful');
  assert.deepEqual(h.sock.take(), ['CAP END']);
  welcome(h, 'alice');
  assert.equal(h.client.state.account, 'alice');
  assert.equal(h.storage.getItem('teahouse.password'), 'sekret');
});

test('904 means wrong password: back to the picker with the password field', () => {
  const h = new Harness();
  h.client.login('alice', 'wrong', false);
  h.open();
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  h.sock.take();
  h.sock.recv(':srv CAP * ACK :sasl');
  h.sock.take();
  h.sock.recv('AUTHENTICATE +');
  h.sock.take();
  h.sock.recv(':srv 904 * :SASL authentication failed');
  assert.equal(h.client.state.conn.status, 'picker');
  assert.equal(h.client.state.conn.pickerError?.key, 'wrongPassword');
  assert.equal(h.client.state.conn.needPassword, true);
  assert.equal(h.storage.getItem('teahouse.password'), null);
  // No reconnection is scheduled.
  h.advance(60000);
  assert.equal(h.sockets.length, 1);
});

test('history batch merges without duplicates, in time order; live and echo copies dedupe by msgid', () => {
  const h = joined('alice', ['bob'], 50);
  assert.equal(h.client.state.buffers['#lobby'].history, 'idle', 'a full page: there may be more');
  h.client.loadOlder('#lobby');
  const req = h.sock.take();
  assert.ok(req.some((f) => f.includes('CHATHISTORY BEFORE #lobby msgid=old0 50')), JSON.stringify(req));
  const label = lastLabel(req, 'CHATHISTORY BEFORE');
  h.sock.recv(
    `@label=${label} :srv BATCH +b1 chathistory #lobby`,
    `@batch=b1;msgid=m1;time=${E(1)} :bob!~bob@h PRIVMSG #lobby :one`,
    `@batch=b1;msgid=m2;time=${E(2)} :carol!~c@h PRIVMSG #lobby :two`,
    `@batch=b1;msgid=m3;time=${E(3)} :bob!~bob@h PRIVMSG #lobby :three`,
    ':srv BATCH -b1',
  );
  const b = h.client.state.buffers['#lobby'];
  const texts = b.messages.filter((m) => m.kind === 'privmsg').map((m) => m.text);
  assert.equal(texts.length, 53);
  assert.deepEqual(texts.slice(0, 5), ['one', 'two', 'three', 'old 0', 'old 1']);
  assert.deepEqual(b.messages.filter((m) => m.msgid?.startsWith('m')).map((m) => m.text), ['one', 'two', 'three']);
  assert.equal(b.history, 'done', 'fewer than 50 means the beginning was reached');
  // the same message again (e.g. a second history fetch) is not shown twice
  h.sock.recv(`@msgid=m2;time=${E(2)} :carol!~c@h PRIVMSG #lobby :two`);
  assert.equal(h.client.state.buffers['#lobby'].messages.filter((m) => m.text === 'two').length, 1);
});

test('an empty BEFORE batch marks the beginning', () => {
  const h = joined('alice', ['bob'], 50);
  h.client.loadOlder('#lobby');
  const label = lastLabel(h.sock.take(), 'BEFORE');
  assert.equal(h.client.state.buffers['#lobby'].history, 'loading');
  h.sock.recv(`@label=${label} :srv BATCH +e chathistory #lobby`, ':srv BATCH -e');
  assert.equal(h.client.state.buffers['#lobby'].history, 'done');
  h.client.loadOlder('#lobby');
  assert.deepEqual(h.sock.take(), []);
});

test('own message: pending copy replaced by the labeled echo; no duplicate', () => {
  const h = joined();
  h.client.input('#lobby', 'hello world');
  const sent = h.sock.take();
  assert.equal(sent.length, 1);
  const m = parse(sent[0])!;
  assert.equal(m.command, 'PRIVMSG');
  assert.deepEqual(m.params, ['#lobby', 'hello world']);
  const label = m.tags.label;
  assert.ok(label);
  let msgs = h.client.state.buffers['#lobby'].messages.filter((x) => x.kind === 'privmsg');
  assert.equal(msgs.length, 1);
  assert.ok(msgs[0].pending);
  h.sock.recv(`@label=${label};msgid=e1;time=${T(5)} :alice!~alice@h PRIVMSG #lobby :hello world`);
  msgs = h.client.state.buffers['#lobby'].messages.filter((x) => x.kind === 'privmsg');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].msgid, 'e1');
  assert.ok(!msgs[0].pending);
  assert.ok(msgs[0].self);
  // history overlap brings it again: still one
  h.sock.recv(':srv BATCH +x chathistory #lobby', `@batch=x;msgid=e1;time=${T(5)} :alice!~alice@h PRIVMSG #lobby :hello world`, ':srv BATCH -x');
  assert.equal(h.client.state.buffers['#lobby'].messages.filter((x) => x.kind === 'privmsg').length, 1);
});

test('own message: a history page that brings it before its echo leaves no pending copy', () => {
  const h = joined();
  h.client.input('#lobby', 'quick after joining');
  const label = parse(h.sock.take()[0])!.tags.label;
  assert.ok(label);
  // The history asked for on joining was answered after the message was stored: it holds it.
  h.sock.recv(':srv BATCH +y chathistory #lobby', `@batch=y;msgid=q1;time=${T(7)} :alice!~alice@h PRIVMSG #lobby :quick after joining`, ':srv BATCH -y');
  h.sock.recv(`@label=${label};msgid=q1;time=${T(7)} :alice!~alice@h PRIVMSG #lobby :quick after joining`);
  const msgs = h.client.state.buffers['#lobby'].messages.filter((x) => x.text === 'quick after joining');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].msgid, 'q1');
  assert.ok(!msgs[0].pending);
});

test('an error reply to a labeled message marks the pending copy failed', () => {
  const h = joined();
  h.client.input('#lobby', 'nope');
  const label = lastLabel(h.sock.take(), 'PRIVMSG');
  h.sock.recv(`@label=${label} :srv 404 alice #lobby :Cannot send to channel`);
  const b = h.client.state.buffers['#lobby'];
  assert.ok(b.messages.some((m) => m.failed && m.text === 'nope'));
  assert.ok(b.messages.some((m) => m.kind === 'error' && m.text.includes('Cannot send to channel')));
});

test('/me sends a CTCP ACTION; received actions are actions', () => {
  const h = joined();
  h.client.input('#lobby', '/me waves');
  const m = parse(h.sock.take()[0])!;
  assert.equal(m.params[1], '\x01ACTION waves\x01');
  h.sock.recv(`@msgid=a1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :\x01ACTION dances\x01`);
  const a = h.client.state.buffers['#lobby'].messages.find((x) => x.msgid === 'a1')!;
  assert.equal(a.kind, 'action');
  assert.equal(a.text, 'dances');
});

test('multi-line text goes as one draft/multiline batch, one frame per line', () => {
  const h = joined();
  h.client.input('#lobby', 'line one\nline two\nline three');
  const frames = h.sock.take();
  assert.equal(frames.length, 5);
  const open = parse(frames[0])!;
  assert.equal(open.command, 'BATCH');
  assert.equal(open.params[1], 'draft/multiline');
  assert.equal(open.params[2], '#lobby');
  const ref = open.params[0].slice(1);
  assert.deepEqual(frames.slice(1, 4).map((f) => parse(f)!.params[1]), ['line one', 'line two', 'line three']);
  for (const f of frames.slice(1, 4)) assert.equal(parse(f)!.tags.batch, ref);
  assert.equal(frames[4], 'BATCH -' + ref);
  // the echo comes back as a multiline batch and replaces the pending copy
  h.sock.recv(
    `@label=${open.tags.label};msgid=ml1;time=${T(7)} :alice!~a@h BATCH +s draft/multiline #lobby`,
    '@batch=s :alice!~a@h PRIVMSG #lobby :line one',
    '@batch=s :alice!~a@h PRIVMSG #lobby :line two',
    '@batch=s :alice!~a@h PRIVMSG #lobby :line three',
    ':srv BATCH -s',
  );
  const msgs = h.client.state.buffers['#lobby'].messages.filter((x) => x.kind === 'privmsg');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].text, 'line one\nline two\nline three');
  assert.equal(msgs[0].msgid, 'ml1');
});

test('without draft/multiline, several lines are several PRIVMSGs', () => {
  const h = new Harness();
  h.client.login('alice', null, false);
  h.open();
  h.sock.recv(':srv CAP * LS :message-tags echo-message batch');
  h.sock.take();
  h.sock.recv(':srv CAP * ACK :message-tags echo-message batch');
  h.sock.take();
  welcome(h, 'alice');
  h.sock.recv(':alice!~a@h JOIN #lobby');
  h.sock.take();
  h.client.input('#lobby', 'a\nb');
  assert.deepEqual(h.sock.take(), ['PRIVMSG #lobby a', 'PRIVMSG #lobby b']);
});

test('REDACT removes the message for everyone; own messages can be redacted', () => {
  const h = joined();
  h.sock.recv(`@msgid=r1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :oops`);
  assert.ok(h.client.state.buffers['#lobby'].messages.some((m) => m.msgid === 'r1'));
  h.sock.recv(':bob!~bob@h REDACT #lobby r1');
  assert.ok(!h.client.state.buffers['#lobby'].messages.some((m) => m.msgid === 'r1'));
  // a late history batch does not bring it back
  h.sock.recv(':srv BATCH +x chathistory #lobby', `@batch=x;msgid=r1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :oops`, ':srv BATCH -x');
  assert.ok(!h.client.state.buffers['#lobby'].messages.some((m) => m.msgid === 'r1'));
  h.client.redact('#lobby', 'own1');
  assert.deepEqual(h.sock.take(), ['REDACT #lobby own1']);
  // DM redaction names our nick as target
  h.sock.recv(`@msgid=d1;time=${T(2)} :bob!~bob@h PRIVMSG alice :secret`);
  assert.ok(h.client.state.buffers['bob'].messages.some((m) => m.msgid === 'd1'));
  h.sock.recv(':bob!~bob@h REDACT alice d1');
  assert.ok(!h.client.state.buffers['bob'].messages.some((m) => m.msgid === 'd1'));
});

test('MARKREAD sets the marker; unread and mention counts follow it', () => {
  const h = joined();
  h.sock.recv(
    `@msgid=u1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :one`,
    `@msgid=u2;time=${T(2)} :bob!~bob@h PRIVMSG #lobby :hey alice, look`,
    `@msgid=u3;time=${T(3)} :bob!~bob@h PRIVMSG #lobby :three`,
  );
  let b = h.client.state.buffers['#lobby'];
  assert.equal(unreadCount(b), 3);
  assert.equal(mentionCount(b), 1);
  h.sock.recv(`:srv MARKREAD #lobby timestamp=${T(2)}`);
  b = h.client.state.buffers['#lobby'];
  assert.equal(unreadCount(b), 1);
  assert.equal(mentionCount(b), 0);
  h.sock.recv(':srv MARKREAD #lobby *');
  assert.equal(unreadCount(h.client.state.buffers['#lobby']), 1);
});

test('markRead sends MARKREAD when logged in to an account, and keeps it locally otherwise', () => {
  const h = joined();
  h.sock.recv(`@msgid=u1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :one`);
  h.client.markRead('#lobby');
  assert.deepEqual(h.sock.take(), [], 'no account: nothing sent');
  assert.equal(unreadCount(h.client.state.buffers['#lobby']), 0);
  assert.equal(h.storage.getItem('teahouse.read.#lobby'), String(Date.parse(T(1))));
  h.sock.recv(':srv 900 alice alice!~a@h alice :You are now logged in as alice');
  h.sock.recv(`@msgid=u2;time=${T(2)} :bob!~bob@h PRIVMSG #lobby :two`);
  h.client.markRead('#lobby');
  assert.deepEqual(h.sock.take(), [`MARKREAD #lobby timestamp=${T(2)}`]);
  // a busy room: at most one MARKREAD every 2 s, with the newest marker
  h.sock.recv(`@msgid=u3;time=${T(3)} :bob!~bob@h PRIVMSG #lobby :three`);
  h.client.markRead('#lobby');
  h.sock.recv(`@msgid=u4;time=${T(4)} :bob!~bob@h PRIVMSG #lobby :four`);
  h.client.markRead('#lobby');
  assert.deepEqual(h.sock.take(), []);
  assert.equal(unreadCount(h.client.state.buffers['#lobby']), 0, 'read at once locally');
  h.advance(2000);
  assert.deepEqual(h.sock.take(), [`MARKREAD #lobby timestamp=${T(4)}`]);
});

test('registered under a variant nick after a reconnection, the client takes its nick back later', () => {
  const s = new MemStorage();
  s.setItem('teahouse.nick', 'bob');
  const h = new Harness(s);
  h.client.start();
  h.open();
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  const caps = h.sock.take()[0].replace('CAP REQ :', '');
  h.sock.recv(':srv 433 * bob :Nickname is already in use');
  assert.deepEqual(h.sock.take(), ['NICK bob_']);
  h.sock.recv(':srv CAP * ACK :' + caps);
  h.sock.take();
  welcome(h, 'bob_');
  assert.equal(h.client.state.nick, 'bob_');
  assert.equal(s.getItem('teahouse.nick'), 'bob', 'the variant is not saved');
  h.sock.take();
  h.advance(5000);
  assert.deepEqual(h.sock.take(), ['NICK bob']);
  h.sock.recv(':srv 433 bob_ bob :Nickname is already in use');
  const before = h.client.state.buffers[SERVER_KEY].messages.length;
  assert.equal(h.client.state.buffers[SERVER_KEY].messages.length, before, 'no error shown for the quiet attempt');
  h.advance(15000);
  assert.deepEqual(h.sock.take(), ['NICK bob']);
  h.sock.recv(':bob_!~b@h NICK bob');
  assert.equal(h.client.state.nick, 'bob');
  h.advance(60000);
  assert.ok(!h.sock.take().includes('NICK bob'));
});

test('reactions are counted per emoji with who reacted; clicking toggles yours', () => {
  const h = joined('alice', ['bob', 'carol']);
  h.sock.recv(`@msgid=p1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :nice`);
  h.sock.recv(
    `@+draft/react=👍;+draft/reply=p1;msgid=x1 :bob!~bob@h TAGMSG #lobby`,
    `@+draft/react=👍;+draft/reply=p1;msgid=x2 :carol!~c@h TAGMSG #lobby`,
    `@+draft/react=👍;+draft/reply=p1;msgid=x2 :carol!~c@h TAGMSG #lobby`,
    `@+draft/react=🎉;+draft/reply=p1;msgid=x3 :carol!~c@h TAGMSG #lobby`,
  );
  const r = h.client.state.buffers['#lobby'].reactions['p1'];
  assert.deepEqual(r, [{ emoji: '👍', nicks: ['bob', 'carol'] }, { emoji: '🎉', nicks: ['carol'] }]);
  h.client.react('#lobby', 'p1', '👍');
  const f = parse(h.sock.take()[0])!;
  assert.equal(f.command, 'TAGMSG');
  assert.equal(f.tags['+draft/react'], '👍');
  assert.equal(f.tags['+draft/reply'], 'p1');
  h.sock.recv(`@+draft/react=👍;+draft/reply=p1;msgid=x4 :alice!~a@h TAGMSG #lobby`);
  assert.deepEqual(h.client.state.buffers['#lobby'].reactions['p1'][0].nicks, ['bob', 'carol', 'alice']);
  h.client.react('#lobby', 'p1', '👍');
  assert.equal(parse(h.sock.take()[0])!.tags['+draft/unreact'], '👍');
});

test('replies carry +draft/reply and keep it on the message', () => {
  const h = joined();
  h.sock.recv(`@msgid=q1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :question?`);
  h.client.input('#lobby', 'answer', 'q1');
  const f = parse(h.sock.take()[0])!;
  assert.equal(f.tags['+draft/reply'], 'q1');
  h.sock.recv(`@+draft/reply=q1;msgid=q2;time=${T(2)} :bob!~bob@h PRIVMSG #lobby :self-reply`);
  assert.equal(h.client.state.buffers['#lobby'].messages.find((m) => m.msgid === 'q2')!.replyTo, 'q1');
});

test('typing: sent at most every 3 s, done on send; received typing expires', () => {
  const h = joined();
  h.client.typing('#lobby', 'h');
  h.client.typing('#lobby', 'he');
  assert.deepEqual(h.sock.take(), ['@+typing=active TAGMSG #lobby']);
  h.advance(3100);
  h.client.typing('#lobby', 'hel');
  assert.deepEqual(h.sock.take(), ['@+typing=active TAGMSG #lobby']);
  h.client.input('#lobby', 'hello');
  const sent = h.sock.take();
  assert.equal(sent[0], '@+typing=done TAGMSG #lobby');
  h.sock.recv('@+typing=active :bob!~bob@h TAGMSG #lobby');
  const b = h.client.state.buffers['#lobby'];
  assert.ok(b.typing['bob'].until > h.time);
  assert.equal(b.typing['bob'].until, h.time + 6000);
  h.sock.recv('@+typing=done :bob!~bob@h TAGMSG #lobby');
  assert.equal(h.client.state.buffers['#lobby'].typing['bob'], undefined);
});

test('JOIN/PART/QUIT/NICK/KICK become system notices and update members', () => {
  const h = joined('alice', ['bob']);
  h.sock.recv(':carol!~c@h JOIN #lobby carol :Carol C');
  let b = h.client.state.buffers['#lobby'];
  assert.ok(b.members['carol']);
  assert.equal(b.members['carol'].account, 'carol');
  assert.deepEqual(b.messages.at(-1)!.i18n, { key: 'join', args: { nick: 'carol', channel: '#lobby' } });
  h.sock.recv(':carol!~c@h NICK carol2');
  b = h.client.state.buffers['#lobby'];
  assert.ok(b.members['carol2'] && !b.members['carol']);
  assert.deepEqual(b.messages.at(-1)!.i18n, { key: 'nick', args: { old: 'carol', new: 'carol2' } });
  h.sock.recv(':carol2!~c@h PART #lobby :bye');
  b = h.client.state.buffers['#lobby'];
  assert.ok(!b.members['carol2']);
  assert.deepEqual(b.messages.at(-1)!.i18n, { key: 'part', args: { nick: 'carol2', channel: '#lobby', reason: 'bye' } });
  h.sock.recv(':bob!~b@h QUIT :Quit: gone');
  b = h.client.state.buffers['#lobby'];
  assert.ok(!b.members['bob']);
  assert.equal(b.messages.at(-1)!.kind, 'quit');
  h.sock.recv(':dave!~d@h JOIN #lobby * :D', ':alice!~a@h KICK #lobby dave :spam');
  b = h.client.state.buffers['#lobby'];
  assert.equal(b.messages.at(-1)!.kind, 'kick');
  assert.ok(!b.members['dave']);
});

test('NAMES with multi-prefix and MODE +o/-v update prefixes; ops sort first', async () => {
  const { sortedMembers } = await import('../src/store');
  const h = joined('alice', ['+bob', '@+carol', 'dave']);
  let b = h.client.state.buffers['#lobby'];
  assert.equal(b.members['carol'].prefixes, '@+');
  assert.deepEqual(sortedMembers(b).map((m) => m.nick), ['alice', 'carol', 'bob', 'dave']);
  h.sock.recv(':alice!~a@h MODE #lobby +o-v dave bob');
  b = h.client.state.buffers['#lobby'];
  assert.equal(b.members['dave'].prefixes, '@');
  assert.equal(b.members['bob'].prefixes, '');
  assert.equal(b.messages.at(-1)!.kind, 'mode');
});

test('TOPIC: 332 sets it; a TOPIC line changes it with a notice; 482 is shown', () => {
  const h = joined();
  h.sock.recv(':srv 332 alice #lobby :Welcome', ':srv 333 alice #lobby bob 1700000000');
  assert.equal(h.client.state.buffers['#lobby'].topic, 'Welcome');
  h.sock.recv(':bob!~b@h TOPIC #lobby :New topic');
  const b = h.client.state.buffers['#lobby'];
  assert.equal(b.topic, 'New topic');
  assert.equal(b.messages.at(-1)!.kind, 'topic');
  h.sock.recv(":srv 482 alice #lobby :You're not channel operator");
  assert.ok(h.client.state.buffers['#lobby'].messages.at(-1)!.text.includes("You're not channel operator"));
});

test('a PRIVMSG to our nick opens a DM buffer; /msg opens one and sends', () => {
  const h = joined();
  h.sock.recv(`@msgid=dm1;time=${T(1)} :bob!~bob@h PRIVMSG alice :psst`);
  const b = h.client.state.buffers['bob'];
  assert.equal(b.kind, 'query');
  assert.equal(mentionCount(b), 1);
  h.client.input('#lobby', '/msg carol hi there');
  assert.equal(h.client.state.active, 'carol');
  const f = parse(h.sock.take().find((x) => x.includes('PRIVMSG'))!)!;
  assert.deepEqual(f.params, ['carol', 'hi there']);
  // our echo to carol lands in carol's buffer
  h.sock.recv(`@label=${f.tags.label};msgid=dm2;time=${T(2)} :alice!~a@h PRIVMSG carol :hi there`);
  assert.equal(h.client.state.buffers['carol'].messages.filter((m) => m.kind === 'privmsg').length, 1);
});

test('TARGETS lists DMs; each gets LATEST', () => {
  const h = new Harness();
  h.client.login('alice', null, false);
  const frames = register(h, 'alice');
  const label = lastLabel(frames, 'CHATHISTORY TARGETS');
  h.sock.recv(
    `@label=${label} :srv BATCH +t draft/chathistory-targets`,
    `@batch=t :srv CHATHISTORY TARGETS bob ${T(1)}`,
    `@batch=t :srv CHATHISTORY TARGETS #lobby ${T(2)}`,
    ':srv BATCH -t',
  );
  assert.equal(h.client.state.buffers['bob']?.kind, 'query');
  assert.ok(!h.client.state.buffers['#lobby']);
  assert.ok(h.sock.take().some((f) => /CHATHISTORY LATEST bob \* 50$/.test(f)));
});

test('reconnect: back-off doubling from 1 s with jitter, re-register, rejoin, AFTER the newest msgid, no duplicates', () => {
  const h = joined();
  h.sock.recv(`@msgid=n1;time=${T(1)} :bob!~bob@h PRIVMSG #lobby :before`);
  h.sock.recv(`@msgid=n2;time=${T(2)} :bob!~bob@h PRIVMSG #lobby :last seen`);
  h.sock.recv('ERROR :Server shutting down');
  h.sock.drop();
  assert.equal(h.client.state.conn.status, 'reconnecting');
  assert.equal(h.client.state.conn.serverError, 'Server shutting down');
  assert.equal(h.client.state.conn.retryAt! - h.time, 1000);
  assert.equal(h.sockets.length, 1);
  h.advance(1000);
  assert.equal(h.sockets.length, 2);
  // this attempt fails too: the next waits 2 s
  h.sock.drop();
  assert.equal(h.client.state.conn.retryAt! - h.time, 2000);
  h.advance(2000);
  assert.equal(h.sockets.length, 3);
  const reg = h.open();
  assert.deepEqual(reg, ['CAP LS 302', 'NICK alice', 'USER alice 0 * :teahouse web']);
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  const caps = h.sock.take()[0].replace('CAP REQ :', '');
  h.sock.recv(':srv CAP * ACK :' + caps);
  h.sock.take();
  welcome(h, 'alice');
  assert.equal(h.client.state.conn.status, 'connected');
  assert.ok(h.sock.take().includes('JOIN #lobby'));
  h.sock.recv(':alice!~a@h JOIN #lobby * :teahouse web');
  const f = h.sock.take();
  assert.ok(f.some((x) => /CHATHISTORY AFTER #lobby msgid=n2 100$/.test(x)), JSON.stringify(f));
  const label = lastLabel(f, 'AFTER');
  h.sock.recv(
    `@label=${label} :srv BATCH +a chathistory #lobby`,
    `@batch=a;msgid=n3;time=${T(3)} :bob!~bob@h PRIVMSG #lobby :missed`,
    ':srv BATCH -a',
    `@msgid=n3;time=${T(3)} :bob!~bob@h PRIVMSG #lobby :missed`,
  );
  const texts = h.client.state.buffers['#lobby'].messages.filter((m) => m.kind === 'privmsg').map((m) => m.text);
  assert.deepEqual(texts, ['before', 'last seen', 'missed']);
  // a later drop starts the back-off from 1 s again
  h.sock.drop();
  assert.equal(h.client.state.conn.retryAt! - h.time, 1000);
  h.client.reconnectNow();
  assert.equal(h.sockets.length, 4);
});

test('back-off is capped at 30 s', () => {
  const h = joined();
  for (let i = 0; i < 8; i++) {
    h.sock.drop();
    const d = h.client.state.conn.retryAt! - h.time;
    assert.ok(d <= 30000, `attempt ${i}: ${d}`);
    h.advance(d);
  }
  h.sock.drop();
  assert.equal(h.client.state.conn.retryAt! - h.time, 30000);
});

test('/quit closes and does not reconnect; logout forgets nick and password', () => {
  const h = joined();
  h.client.input('#lobby', '/quit bye');
  assert.deepEqual(h.sock.sent.slice(-1), ['QUIT bye']);
  assert.equal(h.client.state.conn.status, 'disconnected');
  h.advance(60000);
  assert.equal(h.sockets.length, 1);
  h.storage.setItem('teahouse.password', 'x');
  h.client.logout();
  assert.equal(h.storage.getItem('teahouse.nick'), null);
  assert.equal(h.storage.getItem('teahouse.password'), null);
  assert.equal(h.client.state.conn.status, 'picker');
});

test('REGISTER: success logs in; FAIL shows the description', () => {
  const h = joined();
  h.client.registerAccount('pw pw', false);
  assert.deepEqual(h.sock.take(), ['REGISTER * * :pw pw']);
  h.sock.recv(':srv FAIL REGISTER UNACCEPTABLE_PASSWORD * :Password too short');
  assert.deepEqual(h.client.state.register, { ok: false, text: 'Password too short' });
  h.client.registerAccount('longer password', false);
  h.sock.take();
  h.sock.recv(':srv REGISTER SUCCESS alice :Account created');
  assert.equal(h.client.state.account, 'alice');
  assert.equal(h.client.state.register?.ok, true);
});

test('standard replies and numerics show in the current buffer; unknown commands say so', () => {
  const h = joined();
  h.sock.recv(':srv FAIL REDACT REDACT_FORBIDDEN #lobby m1 :You may not delete that message');
  assert.equal(h.client.state.buffers['#lobby'].messages.at(-1)!.text, 'You may not delete that message');
  h.sock.recv(':srv 401 alice zed :No such nick/channel');
  assert.match(h.client.state.buffers['#lobby'].messages.at(-1)!.text, /No such nick/);
  h.client.input('#lobby', '/frobnicate');
  assert.deepEqual(h.client.state.buffers['#lobby'].messages.at(-1)!.i18n, { key: 'unknownCommand', args: { command: '/frobnicate' } });
  h.sock.recv(':srv 474 alice #secret :Cannot join channel (+b)');
  assert.equal(h.client.state.buffers['#lobby'].messages.at(-1)!.i18n!.key, 'cannotJoin');
});

test('/join, /part, /nick, /topic send the right lines; own PART closes the buffer', () => {
  const h = joined();
  h.client.input('#lobby', '/join games');
  assert.deepEqual(h.sock.take(), ['JOIN #games']);
  h.sock.recv(':alice!~a@h JOIN #games * :x');
  assert.equal(h.client.state.active, '#games');
  h.sock.take();
  h.client.input('#games', '/topic fun and games');
  assert.deepEqual(h.sock.take(), ['TOPIC #games :fun and games']);
  h.client.input('#games', '/nick alice2');
  assert.deepEqual(h.sock.take(), ['NICK alice2']);
  h.sock.recv(':alice!~a@h NICK alice2');
  assert.equal(h.client.state.nick, 'alice2');
  assert.equal(h.storage.getItem('teahouse.nick'), 'alice2');
  h.client.input('#games', '/part');
  assert.deepEqual(h.sock.take(), ['PART #games']);
  h.sock.recv(':alice2!~a@h PART #games');
  assert.ok(!h.client.state.buffers['#games']);
  assert.notEqual(h.client.state.active, '#games');
  assert.deepEqual(JSON.parse(h.storage.getItem('teahouse.rooms')!), ['#lobby']);
});

test('a later visit rejoins the saved rooms and restores DMs', () => {
  const s = new MemStorage();
  s.setItem('teahouse.nick', 'alice');
  s.setItem('teahouse.rooms', JSON.stringify(['#lobby', '#games']));
  s.setItem('teahouse.queries', JSON.stringify(['bob']));
  const h = new Harness(s);
  h.client.start();
  assert.equal(h.client.state.conn.status, 'connecting');
  const frames = register(h, 'alice');
  assert.ok(frames.includes('JOIN #lobby,#games') || frames.includes('JOIN #games,#lobby'), JSON.stringify(frames));
  assert.ok(frames.some((f) => /CHATHISTORY LATEST bob \* 50$/.test(f)));
  assert.equal(h.client.state.buffers[SERVER_KEY].kind, 'server');
});

test('long messages are split into lines that fit', () => {
  const h = joined();
  h.client.input('#lobby', '字'.repeat(400));
  const frames = h.sock.take();
  assert.ok(frames.length >= 1);
  for (const f of frames) assert.ok(Buffer.byteLength(f) <= 512, String(Buffer.byteLength(f)));
});

test('older history with the same timestamps as what we have goes before it, in order', () => {
  const h = joined();
  const same = T(50);
  const lines = [];
  for (let i = 51; i <= 100; i++) lines.push(`@batch=l;msgid=s${i};time=${same} :carol!~c@h PRIVMSG #lobby :line ${i}`);
  h.client.loadOlder('#lobby'); // the LATEST after the empty join batch was 'done': force a page
  h.sock.take();
  h.client.state.buffers['#lobby'] = { ...h.client.state.buffers['#lobby'], history: 'idle' };
  h.sock.recv(':srv BATCH +l chathistory #lobby', ...lines, ':srv BATCH -l');
  h.client.loadOlder('#lobby');
  const label = lastLabel(h.sock.take(), 'BEFORE #lobby msgid=s51');
  const older = [];
  for (let i = 1; i <= 50; i++) older.push(`@batch=o;msgid=s${i};time=${same} :carol!~c@h PRIVMSG #lobby :line ${i}`);
  h.sock.recv(`@label=${label} :srv BATCH +o chathistory #lobby`, ...older, ':srv BATCH -o');
  const texts = h.client.state.buffers['#lobby'].messages.filter((m) => m.kind === 'privmsg').map((m) => m.text);
  assert.deepEqual(texts, Array.from({ length: 100 }, (_, i) => `line ${i + 1}`));
});

test('an echo that lost its label still replaces the pending copy (by text)', () => {
  const h = joined();
  h.client.input('#lobby', 'one\ntwo');
  const open = parse(h.sock.take()[0])!;
  h.sock.recv(`@label=${open.tags.label} :srv ACK`);
  h.sock.recv(
    `@msgid=mlx;time=${T(9)} :alice!~a@h BATCH +s draft/multiline #lobby`,
    '@batch=s :alice!~a@h PRIVMSG #lobby :one',
    '@batch=s :alice!~a@h PRIVMSG #lobby :two',
    ':srv BATCH -s',
  );
  const msgs = h.client.state.buffers['#lobby'].messages.filter((x) => x.kind === 'privmsg');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].msgid, 'mlx');
  assert.ok(!msgs[0].pending);
});
