//! Messages: group commits, history queries by id bounds, targets, retention, backups.

use std::path::Path;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Error, HistoryQuery, MessageRecord, NewMessage, Store};

impl Store {
    /// Stores messages in one transaction (group commit): all of them or, on error, none.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn append(&self, messages: &[NewMessage<'_>]) -> Result<(), Error> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(Error::query("begin append"))?;
        // Many rows per statement: each statement is a round trip to the driver (for
        // SQLite, to its worker thread), and those, not the rows, are the cost.
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(self.backend, chunk.len());
            let mut query = sqlx::query(&sql);
            for m in chunk {
                // Borrowed strings stay borrowed all the way to the driver.
                query = query
                    .bind(m.id)
                    .bind(m.time_ms)
                    .bind(m.target_key.as_str())
                    .bind(m.target)
                    .bind(m.kind)
                    .bind(m.sender_nick)
                    .bind(m.sender_user)
                    .bind(m.sender_host)
                    .bind(m.sender_account)
                    .bind(m.body)
                    .bind(m.tags);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(Error::query("append messages"))?;
        }
        tx.commit().await.map_err(Error::query("commit append"))
    }

    /// Messages of one target, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn history(
        &self,
        target_key: &str,
        query: HistoryQuery,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, Error> {
        let limit = i64::from(limit);
        let mut rows = match query {
            HistoryQuery::Latest { after } => {
                let mut rows = self
                    .select(
                        target_key,
                        "id > $2",
                        after.unwrap_or(i64::MIN),
                        "DESC",
                        limit,
                    )
                    .await?;
                rows.reverse();
                rows
            }
            HistoryQuery::Before(id) => {
                let mut rows = self
                    .select(target_key, "id < $2", id, "DESC", limit)
                    .await?;
                rows.reverse();
                rows
            }
            HistoryQuery::After(id) => self.select(target_key, "id > $2", id, "ASC", limit).await?,
            HistoryQuery::Around(id) => {
                // Half before, half from the reference on; a side with fewer leaves its
                // share to the other, so the count is the limit whenever there are enough.
                let mut before = self
                    .select(target_key, "id < $2", id, "DESC", limit)
                    .await?;
                let mut after = self
                    .select(target_key, "id >= $2", id, "ASC", limit)
                    .await?;
                let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
                let half = wanted / 2;
                let from_after = (wanted - half.min(before.len())).min(after.len());
                let from_before = (wanted - from_after).min(before.len());
                before.truncate(from_before);
                before.reverse();
                after.truncate(from_after);
                before.extend(after);
                before
            }
            HistoryQuery::Between(from, to) if from <= to => {
                self.select_between(target_key, from, to, "ASC", limit)
                    .await?
            }
            HistoryQuery::Between(from, to) => {
                let mut rows = self
                    .select_between(target_key, to, from, "DESC", limit)
                    .await?;
                rows.reverse();
                rows
            }
        };
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// The message `id` of `target_key`, if it is stored there.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn message(&self, target_key: &str, id: i64) -> Result<Option<MessageRecord>, Error> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE target_key = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(target_key)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.as_ref().map(message_from_row).transpose())
            .map_err(Error::query("read message"))
    }

    /// Deletes the message `id` of `target_key` (a redaction); `false` if it was not there.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn delete_message(&self, target_key: &str, id: i64) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM messages WHERE target_key = $1 AND id = $2")
            .bind(target_key)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::query("delete message"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn select(
        &self,
        target_key: &str,
        condition: &str,
        bound: i64,
        order: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, Error> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE target_key = $1 AND {condition}
             ORDER BY id {order} LIMIT $3"
        );
        sqlx::query(&sql)
            .bind(target_key)
            .bind(bound)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(message_from_row).collect())
            .map_err(Error::query("read history"))
    }

    async fn select_between(
        &self,
        target_key: &str,
        low: i64,
        high: i64,
        order: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, Error> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE target_key = $1 AND id > $2 AND id < $3
             ORDER BY id {order} LIMIT $4"
        );
        sqlx::query(&sql)
            .bind(target_key)
            .bind(low)
            .bind(high)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(message_from_row).collect())
            .map_err(Error::query("read history"))
    }

    /// The newest message id stored, if any (so ids stay increasing across restarts).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn max_message_id(&self) -> Result<Option<i64>, Error> {
        sqlx::query("SELECT MAX(id) FROM messages")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<Option<i64>, _>(0))
            .map_err(Error::query("read newest message id"))
    }

    /// Of the given targets, those whose newest message lies between two ids (exclusive),
    /// each with that id, at most `limit`: newest first if `newest_first`, else oldest
    /// first. A target with a message after `high` is left out: its latest activity is not
    /// in the range.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn targets(
        &self,
        target_keys: &[String],
        low: i64,
        high: i64,
        limit: u32,
        newest_first: bool,
    ) -> Result<Vec<(String, i64)>, Error> {
        if target_keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..target_keys.len())
            .map(|i| format!("${}", i + 4))
            .collect();
        let order = if newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT target_key, MAX(id) AS newest FROM messages
             WHERE target_key IN ({})
             GROUP BY target_key HAVING MAX(id) > $1 AND MAX(id) < $2
             ORDER BY newest {order} LIMIT $3",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(low)
            .bind(high)
            .bind(i64::from(limit));
        for key in target_keys {
            query = query.bind(key);
        }
        query
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get("target_key")?, row.try_get("newest")?)))
                    .collect()
            })
            .map_err(Error::query("list history targets"))
    }

    /// The direct conversations `party_key` (a casefolded nick) has messages in: their
    /// target keys (`@a @b`).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn direct_targets(&self, party_key: &str) -> Result<Vec<String>, Error> {
        let keys: Vec<String> =
            sqlx::query("SELECT DISTINCT target_key FROM messages WHERE target_key LIKE '@%'")
                .fetch_all(&self.pool)
                .await
                .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect())
                .map_err(Error::query("list direct conversations"))?;
        let wanted = format!("@{party_key}");
        Ok(keys
            .into_iter()
            .filter(|key| key.split(' ').any(|party| party == wanted))
            .collect())
    }

    /// Applies retention: deletes messages older than `before_id` (if given) and all but
    /// the newest `keep_per_target` of each target (if given). Returns how many went.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn prune(
        &self,
        before_id: Option<i64>,
        keep_per_target: Option<u32>,
    ) -> Result<u64, Error> {
        let mut deleted = 0;
        if let Some(id) = before_id {
            deleted += sqlx::query("DELETE FROM messages WHERE id < $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(Error::query("prune by age"))?
                .rows_affected();
        }
        if let Some(keep) = keep_per_target {
            deleted += sqlx::query(
                "DELETE FROM messages WHERE id IN (
                   SELECT id FROM (
                     SELECT id, ROW_NUMBER() OVER (PARTITION BY target_key ORDER BY id DESC) AS n
                     FROM messages) AS ranked
                   WHERE n > $1)",
            )
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await
            .map_err(Error::query("prune by count"))?
            .rows_affected();
        }
        Ok(deleted)
    }

    /// Writes a consistent copy of an SQLite store to `path` (which must not exist), while
    /// the server may be running.
    ///
    /// # Errors
    /// [`Error::BackupUnsupported`] on PostgreSQL, [`Error::Query`].
    pub async fn backup_to(&self, path: &Path) -> Result<(), Error> {
        if self.backend != Backend::Sqlite {
            return Err(Error::BackupUnsupported);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path.display().to_string())
            .execute(&self.pool)
            .await
            .map_err(Error::query("back up"))?;
        Ok(())
    }
}

/// Rows in one `INSERT`: 11 parameters each, well under SQLite's 32,766 and PostgreSQL's
/// 65,535 parameters per statement.
const ROWS_PER_INSERT: usize = 200;

/// `INSERT INTO messages … VALUES (…), (…), …` for `rows` rows. SQLite gets anonymous `?`
/// parameters: binding a numbered one makes SQLite scan the statement's parameter list, so
/// a statement of n numbered parameters costs n² to bind.
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (id, time_ms, target_key, target, kind, sender_nick, sender_user, \
         sender_host, sender_account, body, tags) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let base = row * COLUMNS;
        sql.push('(');
        for column in 1..=COLUMNS {
            if column > 1 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(base + column).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Columns of a stored message.
const COLUMNS: usize = 11;

const MESSAGE_COLUMNS: &str = "id, time_ms, target_key, target, kind, sender_nick, sender_user, \
                               sender_host, sender_account, body, tags";

fn message_from_row(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        time_ms: row.try_get("time_ms")?,
        target_key: row.try_get("target_key")?,
        target: row.try_get("target")?,
        kind: row.try_get("kind")?,
        sender_nick: row.try_get("sender_nick")?,
        sender_user: row.try_get("sender_user")?,
        sender_host: row.try_get("sender_host")?,
        sender_account: row.try_get("sender_account")?,
        body: row.try_get("body")?,
        tags: row.try_get("tags")?,
    })
}
