"""A scripted IRC peer built on the `irc` library from PyPI (jaraco/irc): a client nobody
here wrote. Used by the `real_irc_client` test; prints what it sees, one event per line.

usage: irc_bot.py HOST PORT
"""

import sys
import time

import irc.client

NICK = "pybot"
DEADLINE = time.monotonic() + 30


def say(*parts):
    print(*parts, flush=True)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    reactor = irc.client.Reactor()
    conn = reactor.server().connect(host, port, NICK, username="pybot", ircname="Python bot")
    done = {"value": False}

    def on_welcome(c, e):
        say("WELCOME", e.target)
        c.join("#lobby")

    def on_join(c, e):
        say("JOIN", e.source.nick, e.target)
        if e.source.nick == NICK:
            say("READY")
        else:
            c.privmsg("#lobby", f"hi {e.source.nick}, I am a bot")

    def on_pubmsg(c, e):
        say("PUBMSG", e.source.nick, e.target, e.arguments[0])
        if e.arguments[0] == "hello pybot":
            c.privmsg("#lobby", "nice to meet you")

    def on_quit(c, e):
        say("QUIT", e.source.nick, *(e.arguments or []))
        if e.source.nick == "bob":
            c.quit("done")

    def on_disconnect(c, e):
        say("DISCONNECTED")
        done["value"] = True

    for event, handler in [
        ("welcome", on_welcome),
        ("join", on_join),
        ("pubmsg", on_pubmsg),
        ("quit", on_quit),
        ("disconnect", on_disconnect),
    ]:
        conn.add_global_handler(event, handler)

    while not done["value"]:
        if time.monotonic() > DEADLINE:
            say("TIMEOUT")
            sys.exit(1)
        reactor.process_once(0.1)


if __name__ == "__main__":
    main()
