//! Accounts: a name key, the name as registered, the PHC hash, when it was created.

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
            "INSERT INTO accounts (name_key, name, password_hash, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(&account.name_key)
        .bind(&account.name)
        .bind(&account.password_hash)
        .bind(account.created_ms)
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
            "SELECT name_key, name, password_hash, created_ms FROM accounts WHERE name_key = $1",
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
            "SELECT name_key, name, password_hash, created_ms FROM accounts ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| rows.iter().map(account_from_row).collect())
        .map_err(Error::query("list accounts"))
    }

    /// Replaces an account's password hash; `false` if there is no such account.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_password(&self, name_key: &str, password_hash: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE name_key = $2")
            .bind(password_hash)
            .bind(name_key)
            .execute(&self.pool)
            .await
            .map_err(Error::query("set password"))?;
        Ok(done.rows_affected() == 1)
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
        Ok(done.rows_affected() == 1)
    }
}

fn account_from_row(row: &AnyRow) -> Result<AccountRecord, sqlx::Error> {
    Ok(AccountRecord {
        name_key: row.try_get("name_key")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        created_ms: row.try_get("created_ms")?,
    })
}
