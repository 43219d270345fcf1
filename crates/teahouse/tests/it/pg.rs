//! A PostgreSQL database of a test's own, and servers on it.

use anyhow::Context as _;

/// A fresh PostgreSQL database on the server at `TEAHOUSE_TEST_POSTGRES_URL` (default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped by [`PgDatabase::drop_it`].
pub(crate) struct PgDatabase {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl PgDatabase {
    pub(crate) async fn create(label: &str) -> anyhow::Result<Self> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("TEAHOUSE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .with_context(|| {
                format!(
                    "PostgreSQL is not reachable at {admin_url}; start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or set TEAHOUSE_TEST_POSTGRES_URL"
                )
            })?;
        let name = format!("teahouse_it_{label}_{}", std::process::id());
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    pub(crate) async fn drop_it(self) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut admin = sqlx::AnyConnection::connect(&self.admin_url).await?;
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// A test server keeping its store in the database at `url`.
pub(crate) async fn server_on(url: &str) -> anyhow::Result<teahouse_testkit::TestServer> {
    let url = url.to_owned();
    teahouse_testkit::TestServer::start_with(move |c| c.store.database_url = Some(url)).await
}

impl PgDatabase {
    /// Cuts the server off its database (every connection ended, new ones refused), or
    /// lets it back in.
    pub(crate) async fn set_reachable(&self, is_reachable: bool) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut admin = sqlx::AnyConnection::connect(&self.admin_url).await?;
        sqlx::raw_sql(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {is_reachable}",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        if !is_reachable {
            sqlx::raw_sql(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.name
            ))
            .execute(&mut admin)
            .await?;
        }
        Ok(())
    }
}

/// Runs `test` on a server with the default store (SQLite in memory), then on one whose
/// store is a fresh PostgreSQL database: each account and history test runs on both.
pub(crate) async fn on_both_backends<F, Fut>(label: &str, test: F) -> anyhow::Result<()>
where
    F: Fn(teahouse_testkit::TestServer) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    test(teahouse_testkit::TestServer::start().await?)
        .await
        .context("on SQLite")?;
    let db = PgDatabase::create(label).await?;
    let result = test(server_on(&db.url).await?)
        .await
        .context("on PostgreSQL");
    db.drop_it().await?;
    result
}
