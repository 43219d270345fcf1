//! One storage suite, run against SQLite (a file in a fresh directory, and in memory) and
//! PostgreSQL (a fresh database on the server at `TEAHOUSE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards).

#![allow(missing_docs)]
#![allow(
    clippy::unwrap_used,
    reason = "a test file: a failed step fails the test"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;
use teahouse_store::{
    AccountRecord, BanRecord, Error, HistoryQuery, Location, MessageRecord, Store,
};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory of its own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("teahouse-store"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn postgres_admin_url() -> String {
    std::env::var("TEAHOUSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh PostgreSQL database, dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        sqlx::any::install_default_drivers();
        let admin_url = postgres_admin_url();
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({e}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or set TEAHOUSE_TEST_POSTGRES_URL"
                )
            });
        let name = unique("teahouse_test");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    async fn drop_it(self) {
        let mut admin = sqlx::AnyConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

fn message(id: i64, target: &str, body: &str) -> MessageRecord {
    MessageRecord {
        id,
        time_ms: id >> 16,
        target_key: target.to_lowercase(),
        target: target.to_owned(),
        kind: 0,
        sender_nick: "alice".to_owned(),
        sender_user: "a".to_owned(),
        sender_host: "127.0.0.1".to_owned(),
        sender_account: ((id >> 16) % 2 == 0).then(|| "alice".to_owned()),
        body: body.to_owned(),
        tags: ((id >> 16) % 3 == 1).then(|| format!("+draft/reply={id}")),
    }
}

/// Stores records (the store takes borrowed messages).
async fn append(store: &Store, records: &[MessageRecord]) -> Result<(), Error> {
    let messages: Vec<_> = records.iter().map(MessageRecord::as_new).collect();
    store.append(&messages).await
}

fn bodies(rows: &[MessageRecord]) -> Vec<&str> {
    rows.iter().map(|m| m.body.as_str()).collect()
}

async fn suite(store: &Store) {
    assert_eq!(store.schema_version().await.unwrap(), 6);

    // Server bans: set, replaced on the same target, expired ones gone, lifted.
    let ban = |kind: &str, mask: &str, reason: &str, expires_ms: Option<i64>| BanRecord {
        kind: kind.to_owned(),
        mask: mask.to_owned(),
        reason: reason.to_owned(),
        set_by: "admin".to_owned(),
        created_ms: 1000,
        expires_ms,
    };
    store
        .set_ban(&ban("mask", "bad!*@*", "spam", None))
        .await
        .unwrap();
    store
        .set_ban(&ban("mask", "bad!*@*", "more spam", Some(9000)))
        .await
        .unwrap();
    store
        .set_ban(&ban("address", "192.0.2.0/24", "net", Some(2000)))
        .await
        .unwrap();
    assert_eq!(
        store.bans(1500).await.unwrap(),
        [
            ban("mask", "bad!*@*", "more spam", Some(9000)),
            ban("address", "192.0.2.0/24", "net", Some(2000))
        ]
    );
    assert_eq!(store.bans(5000).await.unwrap().len(), 1);
    assert!(store.remove_ban("mask", "bad!*@*").await.unwrap());
    assert!(!store.remove_ban("mask", "bad!*@*").await.unwrap());
    assert!(store.bans(0).await.unwrap().is_empty());

    // Accounts.
    let alice = AccountRecord {
        name_key: "alice".to_owned(),
        name: "Alice".to_owned(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
        created_ms: 1_700_000_000_000,
        scram: None,
    };
    assert!(store.create_account(&alice).await.unwrap());
    let again = AccountRecord {
        name: "ALICE".to_owned(),
        ..alice.clone()
    };
    assert!(
        !store.create_account(&again).await.unwrap(),
        "a taken name is refused"
    );
    assert_eq!(store.account("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(store.account("bob").await.unwrap(), None);
    // SCRAM keys come once, at a password login, and with every new password.
    assert!(
        store
            .set_scram_if_missing("alice", "SCRAM-1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_scram_if_missing("alice", "SCRAM-2")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .account("alice")
            .await
            .unwrap()
            .unwrap()
            .scram
            .as_deref(),
        Some("SCRAM-1")
    );
    assert!(
        store
            .set_password("alice", "new-hash", Some("SCRAM-3"))
            .await
            .unwrap()
    );
    assert!(!store.set_password("bob", "x", None).await.unwrap());
    let stored = store.account("alice").await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.scram.as_deref()),
        ("new-hash", Some("SCRAM-3"))
    );
    // Read markers only move forward, and go with the account.
    assert_eq!(store.read_marker("alice", "tea").await.unwrap(), None);
    assert_eq!(
        store.set_read_marker("alice", "tea", 2_000).await.unwrap(),
        2_000
    );
    assert_eq!(
        store.set_read_marker("alice", "tea", 1_000).await.unwrap(),
        2_000
    );
    assert_eq!(
        store.read_marker("alice", "tea").await.unwrap(),
        Some(2_000)
    );
    assert_eq!(store.read_marker("alice", "bob").await.unwrap(), None);
    let bob = AccountRecord {
        name_key: "bob".to_owned(),
        name: "bob".to_owned(),
        ..alice.clone()
    };
    assert!(store.create_account(&bob).await.unwrap());
    let names: Vec<String> = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["Alice", "bob"]);
    assert!(store.delete_account("bob").await.unwrap());
    assert!(!store.delete_account("bob").await.unwrap());

    // History: ids 1..=10 in #tea (bodies m1..m10), 3 in #other.
    assert_eq!(store.max_message_id().await.unwrap(), None);
    let tea: Vec<MessageRecord> = (1..=10)
        .map(|i| message(i << 16, "#tea", &format!("m{i}")))
        .collect();
    append(store, &tea[..4]).await.unwrap();
    append(store, &tea[4..]).await.unwrap();
    let other: Vec<MessageRecord> = (11..=13)
        .map(|i| message(i << 16, "#Other", &format!("o{i}")))
        .collect();
    append(store, &other).await.unwrap();
    assert_eq!(store.max_message_id().await.unwrap(), Some(13 << 16));
    let id = |i: i64| i << 16;

    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 3)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m8", "m9", "m10"]);
    assert_eq!(got[2], tea[9], "every field round-trips");
    assert!(got[2].tags.is_some(), "client tags are kept");
    assert_eq!(got[1].sender_account, None);
    let got = store
        .history("#tea", HistoryQuery::Latest { after: Some(id(8)) }, 5)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m9", "m10"]);
    let got = store
        .history("#tea", HistoryQuery::Before(id(5)), 2)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m3", "m4"]);
    let got = store
        .history("#tea", HistoryQuery::After(id(5)), 2)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m6", "m7"]);
    let got = store
        .history("#tea", HistoryQuery::Around(id(5)), 4)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m3", "m4", "m5", "m6"]);
    // Near either end, the other side makes up the count.
    let got = store
        .history("#tea", HistoryQuery::Around(id(2)), 4)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m1", "m2", "m3", "m4"]);
    let got = store
        .history("#tea", HistoryQuery::Around(id(10)), 4)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m7", "m8", "m9", "m10"]);
    let got = store
        .history("#tea", HistoryQuery::Around(id(5)), 100)
        .await
        .unwrap();
    assert_eq!(got.len(), 10);
    let got = store
        .history("#tea", HistoryQuery::Between(id(2), id(6)), 10)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m3", "m4", "m5"]);
    let got = store
        .history("#tea", HistoryQuery::Between(id(9), id(2)), 2)
        .await
        .unwrap();
    assert_eq!(
        bodies(&got),
        ["m7", "m8"],
        "backwards: the two nearest the first bound"
    );
    let got = store
        .history("#nothing", HistoryQuery::Latest { after: None }, 5)
        .await
        .unwrap();
    assert!(got.is_empty());

    let keys = vec![
        "#tea".to_owned(),
        "#other".to_owned(),
        "#nothing".to_owned(),
    ];
    let targets = store.targets(&keys, 0, i64::MAX, 10, true).await.unwrap();
    assert_eq!(
        targets,
        [("#other".to_owned(), id(13)), ("#tea".to_owned(), id(10))]
    );
    let targets = store.targets(&keys, 0, i64::MAX, 1, false).await.unwrap();
    assert_eq!(targets, [("#tea".to_owned(), id(10))], "oldest first");
    // A target whose newest message is after the range is not in it, though it has
    // messages inside.
    let targets = store.targets(&keys, 0, id(12), 10, true).await.unwrap();
    assert_eq!(targets, [("#tea".to_owned(), id(10))]);

    // Direct conversations are found by either party, and only by them.
    let direct = MessageRecord {
        target_key: "@alice @bob".to_owned(),
        target: "bob".to_owned(),
        ..message(id(30), "bob", "psst")
    };
    append(store, &[direct]).await.unwrap();
    assert_eq!(
        store.direct_targets("alice").await.unwrap(),
        ["@alice @bob"]
    );
    assert_eq!(store.direct_targets("bob").await.unwrap(), ["@alice @bob"]);
    assert!(store.direct_targets("ali").await.unwrap().is_empty());
    assert_eq!(
        store.prune(Some(id(30) + 1), None).await.unwrap(),
        1 + 10 + 3
    );
    append(store, &tea).await.unwrap();
    append(store, &other).await.unwrap();

    // Retention.
    assert_eq!(store.prune(None, Some(5)).await.unwrap(), 5);
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 100)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m6", "m7", "m8", "m9", "m10"]);
    assert_eq!(store.prune(Some(id(8)), None).await.unwrap(), 2);
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 100)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m8", "m9", "m10"]);

    // One message, by its target and id; a redaction deletes it, there only.
    assert_eq!(
        store.message("#tea", id(9)).await.unwrap().map(|m| m.body),
        Some("m9".to_owned())
    );
    assert_eq!(store.message("#other", id(9)).await.unwrap(), None);
    assert!(!store.delete_message("#other", id(9)).await.unwrap());
    assert!(store.delete_message("#tea", id(9)).await.unwrap());
    assert_eq!(store.message("#tea", id(9)).await.unwrap(), None);
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 100)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m8", "m10"]);

    // A batch with a duplicate id stores nothing of the batch.
    let batch = vec![
        message(id(20), "#tea", "m20"),
        message(id(10), "#tea", "dup"),
    ];
    assert!(matches!(
        append(store, &batch).await,
        Err(Error::Query { .. })
    ));
    let got = store
        .history("#tea", HistoryQuery::After(id(9)), 100)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m10"]);
}

#[tokio::test]
async fn sqlite_file_passes_the_suite_and_keeps_everything_after_reopening() {
    let dir = TempDir::new();
    let location = Location::DataDir(dir.0.clone());
    let store = Store::open(&location).await.unwrap();
    suite(&store).await;
    store.close().await;
    drop(store);

    let store = Store::open(&location).await.unwrap();
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 100)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["m8", "m10"], "m9 was redacted");
    assert_eq!(store.account("alice").await.unwrap().unwrap().name, "Alice");
}

#[tokio::test]
async fn sqlite_in_memory_passes_the_suite() {
    let store = Store::open(&Location::Memory).await.unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_suite() {
    let db = PgDatabase::create().await;
    let store = Store::open(&Location::Url(db.url.clone())).await.unwrap();
    suite(&store).await;
    store.close().await;
    // Reopening migrates nothing and finds everything.
    let store = Store::open(&Location::Url(db.url.clone())).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 6);
    assert_eq!(store.max_message_id().await.unwrap(), Some(13 << 16));
    store.close().await;
    db.drop_it().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = TempDir::new();
    let location = Location::DataDir(dir.0.clone());
    let _first = Store::open(&location).await.unwrap();
    let error = Store::open(&location).await.unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error:?}");
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
}

#[tokio::test]
async fn a_corrupt_database_file_is_refused_not_replaced() {
    let dir = TempDir::new();
    let file = dir.0.join(teahouse_store::SQLITE_FILE);
    let garbage = vec![0x5a_u8; 8192];
    std::fs::write(&file, &garbage).unwrap();
    let error = Store::open(&Location::DataDir(dir.0.clone()))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("not a database"), "{error}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        garbage,
        "the file is left as it was"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let location = Location::DataDir(dir.0.clone());
    let store = Store::open(&location).await.unwrap();
    store.close().await;
    drop(store);
    let url = format!(
        "sqlite://{}",
        dir.0.join(teahouse_store::SQLITE_FILE).display()
    );
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let error = Store::open(&location).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::SchemaTooNew {
                found: 99,
                known: 6
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_running_store_can_be_backed_up() {
    let dir = TempDir::new();
    let location = Location::DataDir(dir.0.clone());
    let store = Store::open(&location).await.unwrap();
    append(&store, &[message(1 << 16, "#tea", "kept")])
        .await
        .unwrap();
    let shared = Store::open_shared(&location).await.unwrap();
    let copy = TempDir::new();
    shared
        .backup_to(&copy.0.join(teahouse_store::SQLITE_FILE))
        .await
        .unwrap();
    let restored = Store::open(&Location::DataDir(copy.0.clone()))
        .await
        .unwrap();
    let got = restored
        .history("#tea", HistoryQuery::Latest { after: None }, 10)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["kept"]);
}

#[tokio::test]
async fn an_sqlite_store_of_schema_2_is_upgraded_in_place() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use std::borrow::Cow;

    // A data directory as version 2 left it, with one message.
    let dir = TempDir::new();
    let file = dir.0.join(teahouse_store::SQLITE_FILE);
    let url = format!("sqlite://{}?mode=rwc", file.display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let old = Migrator {
        migrations: Cow::Owned(vec![
            Migration::new(
                1,
                Cow::Borrowed("accounts and history"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0001_accounts_and_history.sql")),
                false,
            ),
            Migration::new(
                2,
                Cow::Borrowed("drop the unused time index"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0002_drop_time_index.sql")),
                false,
            ),
        ]),
        ..Migrator::DEFAULT
    };
    old.run(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO messages (id, time_ms, target_key, target, kind, sender_nick, sender_user,
         sender_host, sender_account, body)
         VALUES (65536, 1, '#tea', 'tea', 0, 'alice', 'a', 'h', NULL, 'from version 2')",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::open(&Location::DataDir(dir.0.clone()))
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 6);
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 10)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["from version 2"]);
    append(&store, &[message(2 << 16, "#tea", "after the upgrade")])
        .await
        .unwrap();
    let got = store
        .history("#tea", HistoryQuery::Latest { after: None }, 10)
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["from version 2", "after the upgrade"]);
}
