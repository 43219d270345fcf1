//! Accounts: a name key, the name as registered, the PHC hash, when it was created, the
//! SCRAM keys; and each account's read markers.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AccountRecord, Error, Store};

impl Store {
    /// Registers an account; `false` if the name is taken.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn create_account(&self, account: &AccountRecord) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO accounts (name_key, name, password_hash, created_ms, scram)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(&account.name_key)
        .bind(&account.name)
        .bind(&account.password_hash)
        .bind(account.created_ms)
        .bind(account.scram.as_deref())
        .execute(&self.pool)
        .await
        .map_err(Error::query("create account"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The account with this casefolded name.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn account(&self, name_key: &str) -> Result<Option<AccountRecord>, Error> {
        sqlx::query(
            "SELECT name_key, name, password_hash, created_ms, scram FROM accounts WHERE name_key = $1",
        )
        .bind(name_key)
        .fetch_optional(&self.pool)
        .await
        .and_then(|row| row.as_ref().map(account_from_row).transpose())
        .map_err(Error::query("read account"))
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, Error> {
        sqlx::query(
            "SELECT name_key, name, password_hash, created_ms, scram FROM accounts ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| rows.iter().map(account_from_row).collect())
        .map_err(Error::query("list accounts"))
    }

    /// Replaces an account's password hash and SCRAM keys; `false` if there is no such
    /// account.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_password(
        &self,
        name_key: &str,
        password_hash: &str,
        scram: Option<&str>,
    ) -> Result<bool, Error> {
        let done =
            sqlx::query("UPDATE accounts SET password_hash = $1, scram = $2 WHERE name_key = $3")
                .bind(password_hash)
                .bind(scram)
                .bind(name_key)
                .execute(&self.pool)
                .await
                .map_err(Error::query("set password"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives an account its SCRAM keys where it has none yet (derived at a password login);
    /// `false` if it had them, or is gone.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_scram_if_missing(&self, name_key: &str, scram: &str) -> Result<bool, Error> {
        let done =
            sqlx::query("UPDATE accounts SET scram = $1 WHERE name_key = $2 AND scram IS NULL")
                .bind(scram)
                .bind(name_key)
                .execute(&self.pool)
                .await
                .map_err(Error::query("set scram keys"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The read marker of `account_key` for `target_key`: milliseconds since the epoch.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn read_marker(
        &self,
        account_key: &str,
        target_key: &str,
    ) -> Result<Option<i64>, Error> {
        sqlx::query("SELECT at_ms FROM read_markers WHERE account_key = $1 AND target_key = $2")
            .bind(account_key)
            .bind(target_key)
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.map(|row| row.try_get::<i64, _>("at_ms")).transpose())
            .map_err(Error::query("read marker"))
    }

    /// Moves the read marker of `account_key` for `target_key` to `at_ms`, never back:
    /// returns the marker now (which is `at_ms` unless a later one was stored).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_read_marker(
        &self,
        account_key: &str,
        target_key: &str,
        at_ms: i64,
    ) -> Result<i64, Error> {
        sqlx::query(
            "INSERT INTO read_markers (account_key, target_key, at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_key, target_key) DO UPDATE SET at_ms = excluded.at_ms
             WHERE read_markers.at_ms < excluded.at_ms",
        )
        .bind(account_key)
        .bind(target_key)
        .bind(at_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::query("set read marker"))?;
        Ok(self
            .read_marker(account_key, target_key)
            .await?
            .unwrap_or(at_ms))
    }

    /// Deletes an account; `false` if there was none.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn delete_account(&self, name_key: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM accounts WHERE name_key = $1")
            .bind(name_key)
            .execute(&self.pool)
            .await
            .map_err(Error::query("delete account"))?;
        sqlx::query("DELETE FROM read_markers WHERE account_key = $1")
            .bind(name_key)
            .execute(&self.pool)
            .await
            .map_err(Error::query("delete read markers"))?;
        Ok(done.rows_affected() == 1)
    }
}

fn account_from_row(row: &AnyRow) -> Result<AccountRecord, sqlx::Error> {
    Ok(AccountRecord {
        name_key: row.try_get("name_key")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        created_ms: row.try_get("created_ms")?,
        scram: row.try_get("scram")?,
    })
}
