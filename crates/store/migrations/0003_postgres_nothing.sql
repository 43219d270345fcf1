-- PostgreSQL's BIGINT primary key is already the table's one index on id; nothing to do.
-- (SQLite runs 0003_sqlite_rowid_ids.sql.)
SELECT 1;
