-- Accounts and history. One schema for SQLite and PostgreSQL: only types both know.
-- Append-only: a later change is a new file; stored codes (messages.kind) are never renumbered.

CREATE TABLE accounts (
    -- The casefolded account name, which is also the nick it protects.
    name_key TEXT PRIMARY KEY,
    -- The name as registered.
    name TEXT NOT NULL,
    -- Argon2id, in PHC string format (algorithm, parameters and salt included).
    password_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE messages (
    -- Sortable and unique: milliseconds since the Unix epoch << 16 | a sequence number.
    id BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    -- What the message belongs to: `#room` (casefolded) or `@a @b` for the direct
    -- conversation of a and b (casefolded nicks, sorted).
    target_key TEXT NOT NULL,
    -- The target as the sender wrote it: the room name, or the recipient's nick.
    target TEXT NOT NULL,
    -- 0 message, 1 notice, 2 action.
    kind INTEGER NOT NULL,
    sender_nick TEXT NOT NULL,
    sender_user TEXT NOT NULL,
    sender_host TEXT NOT NULL,
    sender_account TEXT,
    body TEXT NOT NULL
);

CREATE INDEX messages_by_target ON messages (target_key, id);
CREATE INDEX messages_by_time ON messages (time_ms);
