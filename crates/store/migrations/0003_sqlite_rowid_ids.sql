-- SQLite only (PostgreSQL runs 0003_postgres_nothing.sql): make the message id the table's
-- rowid. `id BIGINT PRIMARY KEY` kept a separate unique index beside the rowid, so every
-- insert wrote three B-trees; `INTEGER PRIMARY KEY` is the rowid itself (64-bit), so two.
CREATE TABLE messages_v3 (
    id INTEGER PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    target_key TEXT NOT NULL,
    target TEXT NOT NULL,
    kind INTEGER NOT NULL,
    sender_nick TEXT NOT NULL,
    sender_user TEXT NOT NULL,
    sender_host TEXT NOT NULL,
    sender_account TEXT,
    body TEXT NOT NULL
);
INSERT INTO messages_v3 (id, time_ms, target_key, target, kind, sender_nick, sender_user,
                         sender_host, sender_account, body)
    SELECT id, time_ms, target_key, target, kind, sender_nick, sender_user, sender_host,
           sender_account, body
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE INDEX messages_by_target ON messages (target_key, id);
