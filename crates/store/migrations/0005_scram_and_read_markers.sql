-- SCRAM-SHA-256 keys beside the Argon2id hash, so SASL SCRAM works without the password:
-- `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64), as PostgreSQL keeps
-- them. NULL for accounts registered before: they gain keys at their next password login.
ALTER TABLE accounts ADD COLUMN scram TEXT;

-- IRCv3 read markers: per account and target (a channel, or the other nick of a
-- conversation, casefolded), the time of the last message read.
CREATE TABLE read_markers (
    account_key TEXT NOT NULL,
    target_key TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (account_key, target_key)
);
