-- Server bans set by operators (KLINE, DLINE): what is banned (`kind`: `mask` for a
-- nick!user@host glob, `address` for an IP or CIDR range, `account` for an account name),
-- why, by whom, when, and until when (NULL: until lifted).
CREATE TABLE server_bans (
    kind TEXT NOT NULL,
    mask TEXT NOT NULL,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    PRIMARY KEY (kind, mask)
);
