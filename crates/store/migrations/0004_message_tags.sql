-- A message's client-only tags (IRCv3 message-tags, e.g. `+draft/reply=…`), as sent:
-- replayed with it by CHATHISTORY. NULL for messages without any (and all stored before).
ALTER TABLE messages ADD COLUMN tags TEXT;
