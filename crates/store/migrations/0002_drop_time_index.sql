-- Message ids are time-ordered (milliseconds << 16), so retention by age deletes by id and no
-- query needs an index on time_ms; it only cost every insert another B-tree write.
DROP INDEX IF EXISTS messages_by_time;
