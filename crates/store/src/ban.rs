//! Server bans set by operators: kept so that they outlive a restart.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{BanRecord, Error, Store};

impl Store {
    /// Sets a ban, replacing one on the same kind and mask.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_ban(&self, ban: &BanRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO server_bans (kind, mask, reason, set_by, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, mask) DO UPDATE SET reason = excluded.reason,
                 set_by = excluded.set_by, created_ms = excluded.created_ms,
                 expires_ms = excluded.expires_ms",
        )
        .bind(&ban.kind)
        .bind(&ban.mask)
        .bind(&ban.reason)
        .bind(&ban.set_by)
        .bind(ban.created_ms)
        .bind(ban.expires_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::query("set ban"))?;
        Ok(())
    }

    /// Lifts a ban; `false` if there was none.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn remove_ban(&self, kind: &str, mask: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM server_bans WHERE kind = $1 AND mask = $2")
            .bind(kind)
            .bind(mask)
            .execute(&self.pool)
            .await
            .map_err(Error::query("remove ban"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every ban not expired at `now_ms`; expired ones are deleted on the way.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn bans(&self, now_ms: i64) -> Result<Vec<BanRecord>, Error> {
        sqlx::query("DELETE FROM server_bans WHERE expires_ms IS NOT NULL AND expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(Error::query("drop expired bans"))?;
        sqlx::query(
            "SELECT kind, mask, reason, set_by, created_ms, expires_ms FROM server_bans
             ORDER BY created_ms",
        )
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| rows.iter().map(ban_from_row).collect())
        .map_err(Error::query("list bans"))
    }
}

fn ban_from_row(row: &AnyRow) -> Result<BanRecord, sqlx::Error> {
    Ok(BanRecord {
        kind: row.try_get("kind")?,
        mask: row.try_get("mask")?,
        reason: row.try_get("reason")?,
        set_by: row.try_get("set_by")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
    })
}
