//! Several nodes as one server (issue 15): three nodes on loopback against the machine's
//! NATS and PostgreSQL, each test with its own subject prefix, buckets and database.

use std::time::Duration;

use teahouse_testkit::{TestServer, TextClient, WAIT};

use crate::irc_kit::{S, reg, tag};
use crate::pg::PgDatabase;

/// The NATS server of the machine (`TEAHOUSE_TEST_NATS_URL`, default `nats://127.0.0.1:4222`).
pub(crate) fn nats_url() -> String {
    std::env::var("TEAHOUSE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Nodes of one cluster, in this process, on one database; its buckets and database are
/// removed by [`Cluster::clean_up`], or when it is dropped (a test that failed).
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<TestServer>,
    db: Option<PgDatabase>,
    pub(crate) db_url: String,
    pub(crate) prefix: String,
    pub(crate) url: String,
}

/// The settings of node `name` of the cluster `prefix` on `url` and `db`: quick heartbeats,
/// so that a lost node is noticed in a couple of seconds.
pub(crate) fn node_config(
    config: &mut teahouse_testkit::teahouse_server::Config,
    url: &str,
    db: &str,
    prefix: &str,
    name: &str,
) {
    config.store.database_url = Some(db.to_owned());
    config.cluster.url = Some(url.to_owned());
    config.cluster.node_name = name.to_owned();
    config.cluster.prefix = prefix.to_owned();
    config.cluster.heartbeat = Duration::from_millis(200);
    config.cluster.dead_after = Duration::from_secs(2);
    // The burst of the ordering check is no flood to be paced.
    config.irc.flood.enabled = false;
}

impl Cluster {
    /// `n` nodes that all see each other.
    pub(crate) async fn start(label: &str, n: usize) -> anyhow::Result<Self> {
        Self::start_on(label, n, &nats_url()).await
    }

    pub(crate) async fn start_on(label: &str, n: usize, url: &str) -> anyhow::Result<Self> {
        Self::start_with(label, n, url, |_| {}).await
    }

    /// [`Cluster::start_on`], each node's config adjusted by `adjust`.
    pub(crate) async fn start_with(
        label: &str,
        n: usize,
        url: &str,
        adjust: impl Fn(&mut teahouse_testkit::teahouse_server::Config) + Clone + Send + 'static,
    ) -> anyhow::Result<Self> {
        let db = PgDatabase::create(&format!("cl_{label}")).await?;
        let prefix = format!("th-it-{label}-{}", std::process::id());
        let mut nodes = Vec::new();
        for i in 0..n {
            let (nats, db_url, prefix) = (url.to_owned(), db.url.clone(), prefix.clone());
            let adjust = adjust.clone();
            let node = TestServer::start_with(move |c| {
                node_config(c, &nats, &db_url, &prefix, &format!("n{i}"));
                adjust(c);
            })
            .await
            .map_err(|e| {
                e.context(format!(
                    "node {i} did not start: is NATS with JetStream at {url}? \
                     (`nats-server -a 127.0.0.1 -p 4222 -js`, or set TEAHOUSE_TEST_NATS_URL)"
                ))
            })?;
            nodes.push(node);
        }
        for node in &nodes {
            let proxied = !node_proxy_free(node);
            if proxied {
                wait_servers_behind(node, n).await?;
            } else {
                wait_servers(node, n).await?;
            }
        }
        Ok(Self {
            nodes,
            db_url: db.url.clone(),
            db: Some(db),
            prefix,
            url: url.to_owned(),
        })
    }

    /// Stops the nodes, deletes the buckets and the database.
    pub(crate) async fn clean_up(mut self) -> anyhow::Result<()> {
        for node in std::mem::take(&mut self.nodes) {
            node.stop().await?;
        }
        teahouse_cluster::nats::remove_cluster(&self.url, &self.prefix).await?;
        match self.db.take() {
            Some(db) => db.drop_it().await,
            None => Ok(()),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return;
        };
        // A test that failed: stop the nodes, then remove what it made, on a runtime of
        // its own (this one may be unwinding).
        self.nodes.clear();
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let _ = teahouse_cluster::nats::remove_cluster(&url, &prefix).await;
                db.drop_it().await
            })
        })
        .join();
    }
}

/// Whether `node` takes connections from loopback without a PROXY header.
fn node_proxy_free(node: &TestServer) -> bool {
    node.config().limits.proxy_from.is_empty()
}

/// Waits until `node`'s LUSERS counts `n` servers: every node has heard of every other.
pub(crate) async fn wait_servers(node: &TestServer, n: usize) -> anyhow::Result<()> {
    let nick = format!("probe{}", node.irc_addr.port());
    let probe = node.irc_login(&nick).await?;
    count_servers(probe, &nick, n).await
}

/// [`wait_servers`] for a node behind a balancer: the probe says who it is first.
async fn wait_servers_behind(node: &TestServer, n: usize) -> anyhow::Result<()> {
    let nick = format!("probe{}", node.irc_addr.port());
    let probe = behind(
        node,
        "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n".as_bytes(),
        &nick,
    )
    .await?;
    count_servers(probe, &nick, n).await
}

/// An IRC client through a balancer that sent `header`, registered as `nick`.
async fn behind(node: &TestServer, header: &[u8], nick: &str) -> anyhow::Result<TextClient> {
    let mut c = node.irc().await?;
    c.send_raw(header).await?;
    c.send(&format!("NICK {nick}")).await?;
    c.send(&format!("USER {nick} 0 * :{nick}")).await?;
    c.expect_prefix(&format!("{S} 001 {nick} ")).await?;
    c.expect_eventually_prefix(&format!("{S} 422 {nick} "))
        .await?;
    Ok(c)
}

async fn count_servers(mut probe: TextClient, nick: &str, n: usize) -> anyhow::Result<()> {
    let want = format!("on {n} servers");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        probe.send("LUSERS").await?;
        let line = probe
            .expect_eventually_prefix(&format!("{S} 251 {nick} "))
            .await?;
        if line.contains(&want) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the nodes did not all meet: {line}"
        );
        // Heartbeats come every 200 ms: ask again after one.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probe.send("QUIT").await?;
    probe.expect_closed().await?;
    Ok(())
}

/// Waits until `c` (registered as `me`, in no room but those it is in already) sees each of
/// `nicks` in `channel`'s NAMES: the node it is on has heard of their joins on other nodes.
/// A join elsewhere travels in a millisecond or two, but a test's next client can be
/// quicker; without this, it could found the room anew on its own node.
pub(crate) async fn sees(
    c: &mut TextClient,
    me: &str,
    channel: &str,
    nicks: &[&str],
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        c.send(&format!("NAMES {channel}")).await?;
        let mut names = Vec::new();
        loop {
            let line = c.line().await?;
            if line.starts_with(&format!("{S} 366 {me} ")) {
                break;
            }
            if line.starts_with(&format!("{S} 353 {me} ")) {
                let listed = line.rsplit_once(" :").map_or("", |(_, n)| n);
                names.extend(
                    listed
                        .split_whitespace()
                        .map(|n| n.trim_start_matches(['@', '+']).to_owned()),
                );
            }
        }
        if nicks.iter().all(|n| names.iter().any(|m| m == n)) {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{me} never saw {nicks:?} in {channel}: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CAPS: &str = "batch server-time message-tags labeled-response draft/chathistory";

/// The messages of CHATHISTORY LATEST of `target`, as `c` gets them (tags but msgid off).
async fn latest(c: &mut TextClient, target: &str, label: &str) -> anyhow::Result<Vec<String>> {
    c.send(&format!("@label={label} CHATHISTORY LATEST {target} * 100"))
        .await?;
    let open = c.line().await?;
    anyhow::ensure!(tag(&open, "label") == Some(label), "{open}");
    let mut lines = Vec::new();
    loop {
        let line = c.line().await?;
        if line.starts_with(&format!("{S} BATCH -")) {
            return Ok(lines);
        }
        let msgid = tag(&line, "msgid").unwrap_or_default().to_owned();
        let rest = line.split_once(' ').map_or("", |(_, r)| r);
        lines.push(format!("{msgid} {rest}"));
    }
}

#[tokio::test]
async fn issue_15_three_nodes_chat_as_one_server() -> anyhow::Result<()> {
    let cluster = Cluster::start("chat", 3).await?;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    // Joins across nodes, on both faces.
    let mut alice = a.login("alice").await?;
    let mut bob = b.irc_login("bob").await?;
    sees(&mut bob, "bob", "#lobby", &["alice"]).await?;
    bob.send("JOIN #lobby").await?;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #lobby").await?;
    bob.expect(&format!("{S} 353 bob = #lobby :@alice bob"))
        .await?;
    bob.expect(&format!("{S} 366 bob #lobby :End of /NAMES list"))
        .await?;
    alice.expect("* bob entered the room").await?;
    let mut carol = c.login("carol").await?;
    alice.expect("* carol entered the room").await?;
    bob.expect(":carol!text@127.0.0.1 JOIN #lobby").await?;

    // Messages: each sender heard on the two other nodes, in order.
    alice.send("hello from a").await?;
    alice.send("and again").await?;
    bob.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :hello from a")
        .await?;
    bob.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :and again")
        .await?;
    carol.expect("alice: hello from a").await?;
    carol.expect("alice: and again").await?;
    bob.send("PRIVMSG #lobby :hi from b").await?;
    alice.expect("bob: hi from b").await?;
    carol.expect("bob: hi from b").await?;
    // One sender's messages arrive in order on every node, even in a burst.
    let burst: String = (0..50)
        .map(|i| format!("PRIVMSG #lobby :n{i}\r\n"))
        .collect();
    bob.send_raw(burst.as_bytes()).await?;
    for i in 0..50 {
        alice.expect(&format!("bob: n{i}")).await?;
        carol.expect(&format!("bob: n{i}")).await?;
    }

    // Direct messages across nodes, both faces.
    bob.send("PRIVMSG carol :psst").await?;
    carol.expect("[dm] bob: psst").await?;
    carol.send("/msg bob back").await?;
    carol.expect("[dm to bob] back").await?;
    bob.expect(":carol!text@127.0.0.1 PRIVMSG bob :back")
        .await?;

    // A nick change is seen everywhere.
    bob.send("NICK robert").await?;
    bob.expect(":bob!~bob@127.0.0.1 NICK :robert").await?;
    alice.expect("* bob is now known as robert").await?;
    carol.expect("* bob is now known as robert").await?;

    // Topic, modes and a kick in a room of IRC users on two nodes.
    let mut dave = c.irc_login("dave").await?;
    dave.send("JOIN #tea").await?;
    dave.expect_eventually_prefix(&format!("{S} 366 dave #tea "))
        .await?;
    sees(&mut bob, "robert", "#tea", &["dave"]).await?;
    bob.send("JOIN #tea").await?;
    bob.expect_eventually_prefix(&format!("{S} 366 robert #tea "))
        .await?;
    dave.expect(":robert!~bob@127.0.0.1 JOIN #tea").await?;
    dave.send("TOPIC #tea :oolong").await?;
    bob.expect(":dave!~dave@127.0.0.1 TOPIC #tea :oolong")
        .await?;
    dave.send("MODE #tea +m").await?;
    bob.expect(":dave!~dave@127.0.0.1 MODE #tea +m").await?;
    // Node b decides by the modes node c set: moderated, so robert may not speak.
    bob.send("PRIVMSG #tea :may I?").await?;
    bob.expect(&format!("{S} 404 robert #tea :Cannot send to channel (+m)"))
        .await?;
    dave.send("KICK #tea robert :out").await?;
    bob.expect(":dave!~dave@127.0.0.1 KICK #tea robert :out")
        .await?;
    dave.expect_eventually(":dave!~dave@127.0.0.1 KICK #tea robert :out")
        .await?;

    // A nick in use on another node is refused here.
    let mut eve = a.irc().await?;
    eve.send("NICK dave").await?;
    eve.send("USER eve 0 * :Eve").await?;
    eve.expect(&format!("{S} 433 * dave :Nickname is already in use"))
        .await?;

    // Two nodes asked for one nick at once: exactly one gets it.
    let (mut x, mut y) = (a.irc().await?, b.irc().await?);
    x.send("NICK frank").await?;
    y.send("NICK frank").await?;
    x.send("USER x 0 * :X").await?;
    y.send("USER y 0 * :Y").await?;
    let first = |line: String| line.contains(" 001 frank ");
    let (lx, ly) = (x.line().await?, y.line().await?);
    assert!(
        first(lx.clone()) ^ first(ly.clone()),
        "exactly one may be frank: {lx} / {ly}"
    );
    let loser = if first(lx.clone()) { ly } else { lx };
    assert_eq!(
        loser,
        format!("{S} 433 * frank :Nickname is already in use")
    );

    // An account registered on one node is an account on every node (one database, and
    // its nick protected in every node's state).
    carol.send("/register oolong").await?;
    carol
        .expect_eventually(
            "* Nickname carol is now registered to you; next time, log in with its password",
        )
        .await?;

    // A quit is seen on the other nodes.
    carol.send("quit").await?;
    carol.expect_eventually("Bye!").await?;
    alice.expect("* carol left the room").await?;
    bob.expect(":carol!text@127.0.0.1 QUIT :Quit").await?;
    let mut again = a.connect().await?;
    again.expect("Enter a nickname:").await?;
    again.send("carol").await?;
    again
        .expect("Nickname carol is registered. Password (or /nick OTHER):")
        .await?;
    again.send("oolong").await?;
    again.expect("* You are logged in to account carol").await?;
    again.expect("Nickname set: carol").await?;
    bob.expect(":carol!text@127.0.0.1 JOIN #lobby").await?;

    // History: stored once, and every node's CHATHISTORY gives the same, in one order.
    let mut seen = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let nick = format!("reader{i}");
        let mut h = reg(node, &nick, CAPS).await?;
        h.send("JOIN #lobby").await?;
        h.expect_eventually_prefix(&format!("{S} 366 {nick} #lobby "))
            .await?;
        seen.push(latest(&mut h, "#lobby", &format!("h{i}")).await?);
    }
    let texts: Vec<&str> = seen[0]
        .iter()
        .map(|l| l.rsplit_once(" :").map_or("", |(_, t)| t))
        .collect();
    let mut want = vec![
        "hello from a".to_owned(),
        "and again".to_owned(),
        "hi from b".to_owned(),
    ];
    want.extend((0..50).map(|i| format!("n{i}")));
    assert_eq!(texts, want);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);

    cluster.clean_up().await
}

/// A config file for node `name` of `cluster`, for the real binary.
fn binary_config(cluster: &Cluster, dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[store]\ndatabase_url = \"{}\"\n\n[cluster]\nurl = \"{}\"\nnode_name = \"{name}\"\n\
             prefix = \"{}\"\nheartbeat = \"200ms\"\ndead_after = \"2s\"\n",
            cluster.db_url, cluster.url, cluster.prefix
        ),
    )?;
    Ok(path.to_string_lossy().into_owned())
}

#[tokio::test]
async fn issue_15_a_killed_node_is_announced_and_rejoins_cleanly() -> anyhow::Result<()> {
    use crate::tls::Served;
    let cluster = Cluster::start("kill", 2).await?;
    let dir = std::env::temp_dir().join(format!("teahouse-it-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = binary_config(&cluster, &dir, "n2")?;
    let served = Served::with(&["--config", &config], &["text", "irc"]).await?;
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    wait_servers(a, 3).await?;

    let mut alice = a.login("alice").await?;
    let mut bob = b.irc_login("bob").await?;
    sees(&mut bob, "bob", "#lobby", &["alice"]).await?;
    bob.send("JOIN #lobby").await?;
    bob.expect_eventually_prefix(&format!("{S} 366 bob #lobby "))
        .await?;
    alice.expect("* bob entered the room").await?;
    let mut zed = TextClient::connect(served.addr("irc")).await?;
    zed.send("NICK zed").await?;
    zed.send("USER zed 0 * :Zed").await?;
    zed.expect_eventually_prefix(&format!("{S} 422 zed "))
        .await?;
    sees(&mut zed, "zed", "#lobby", &["alice", "bob"]).await?;
    zed.send("JOIN #lobby").await?;
    zed.expect_eventually_prefix(&format!("{S} 366 zed #lobby "))
        .await?;
    alice.expect("* zed entered the room").await?;
    bob.expect(":zed!~zed@127.0.0.1 JOIN #lobby").await?;

    // kill -9: no goodbye. The others notice by the missing heartbeats (gone after 2 s
    // here; 10 s by default) and announce zed's quit.
    let killed = std::time::Instant::now();
    served.kill().await?;
    alice
        .expect("* zed left the room (their node was lost)")
        .await?;
    bob.expect(":zed!~zed@127.0.0.1 QUIT :*.net *.split")
        .await?;
    let noticed = killed.elapsed();
    assert!(
        noticed >= Duration::from_secs(2) && noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    // No ghost in NAMES or WHO, and the nick is free on the nodes left.
    bob.send("NAMES #lobby").await?;
    bob.expect(&format!("{S} 353 bob = #lobby :@alice bob"))
        .await?;
    bob.expect_eventually_prefix(&format!("{S} 366 bob #lobby "))
        .await?;
    bob.send("WHO zed").await?;
    bob.expect(&format!("{S} 315 bob zed :End of /WHO list"))
        .await?;
    let mut zed_again = a.irc_login("zed").await?;
    zed_again.send("JOIN #lobby").await?;
    zed_again
        .expect_eventually_prefix(&format!("{S} 366 zed #lobby "))
        .await?;
    bob.expect(":zed!~zed@127.0.0.1 JOIN #lobby").await?;

    // The node comes back under its name: same number, its former claims given back, and
    // everything the others have is there; nobody is counted twice.
    let served = Served::with(&["--config", &config], &["text", "irc"]).await?;
    wait_servers(a, 3).await?;
    let mut yan = TextClient::connect(served.addr("irc")).await?;
    yan.send("NICK yan").await?;
    yan.send("USER yan 0 * :Yan").await?;
    yan.expect_eventually_prefix(&format!("{S} 422 yan "))
        .await?;
    // It has the others' snapshots: everyone is there, once.
    sees(&mut yan, "yan", "#lobby", &["alice", "bob", "zed"]).await?;
    yan.send("JOIN #lobby").await?;
    yan.expect(":yan!~yan@127.0.0.1 JOIN #lobby").await?;
    yan.expect(&format!("{S} 353 yan = #lobby :@alice bob yan zed"))
        .await?;
    yan.expect_eventually_prefix(&format!("{S} 366 yan #lobby "))
        .await?;
    bob.expect(":yan!~yan@127.0.0.1 JOIN #lobby").await?;
    yan.send("NICK zed").await?;
    yan.expect(&format!("{S} 433 yan zed :Nickname is already in use"))
        .await?;
    yan.send("LUSERS").await?;
    yan.expect(&format!(
        "{S} 251 yan :There are 4 users and 0 invisible on 3 servers"
    ))
    .await?;

    served.stop().await?;
    alice
        .expect_eventually("* yan left the room (their node was lost)")
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    cluster.clean_up().await
}

/// A NATS server of the test's own on a free loopback port, JetStream on, stopped on drop.
struct OwnNats {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnNats {
    fn start(port: u16, dir: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let child = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("nats-server is not installed (apt-get install nats-server)")?;
        Ok(Self {
            child,
            port,
            dir: dir.to_owned(),
        })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits until it takes connections.
    async fn ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Kills it (`kill -9`), as an outage would.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn issue_15_a_nats_outage_is_survived_and_healed() -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("teahouse-it-nats-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut nats = OwnNats::start(port, &dir)?;
    nats.ready().await?;
    let cluster = Cluster::start_on("outage", 3, &nats.url()).await?;
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let mut alice = a.login("alice").await?;
    let mut carol = a.login("carol").await?;
    alice.expect("* carol entered the room").await?;
    let mut bob = b.irc_login("bob").await?;
    sees(&mut bob, "bob", "#lobby", &["alice", "carol"]).await?;
    bob.send("JOIN #lobby").await?;
    bob.expect_eventually_prefix(&format!("{S} 366 bob #lobby "))
        .await?;
    alice.expect("* bob entered the room").await?;
    carol.expect("* bob entered the room").await?;

    // NATS goes away: everyone is told; the room keeps working on each node.
    nats.kill()?;
    alice
        .expect("! The other nodes are out of reach: this room keeps working here; people on them will be back when they are")
        .await?;
    bob.expect(&format!(
        "{S} NOTICE * :*** The other nodes are out of reach: channels keep working here; people on them will be back when they are"
    ))
    .await?;
    // A new nick cannot be claimed meanwhile: the user is told so, not that it is taken.
    let mut late = a.connect().await?;
    late.expect("Enter a nickname:").await?;
    late.send("newbie").await?;
    late.expect(
        "! Nickname newbie cannot be checked with the other nodes right now; try again shortly",
    )
    .await?;
    alice.send("during the outage").await?;
    carol.expect_eventually("alice: during the outage").await?;
    // Past the heartbeats' deadline, each side sees the other's users leave.
    alice
        .expect("* bob left the room (their node was lost)")
        .await?;
    bob.expect(":alice!text@127.0.0.1 QUIT :*.net *.split")
        .await?;
    bob.expect(":carol!text@127.0.0.1 QUIT :*.net *.split")
        .await?;
    bob.send("PRIVMSG #lobby :alone here").await?;
    bob.send("NAMES #lobby").await?;
    bob.expect(&format!("{S} 353 bob = #lobby :bob")).await?;

    // NATS is back: the nodes find each other again and exchange snapshots.
    let nats = OwnNats::start(port, &nats.dir)?;
    nats.ready().await?;
    alice.expect("* The other nodes are back in reach").await?;
    alice.expect("* bob entered the room").await?;
    bob.expect_eventually(&format!(
        "{S} NOTICE * :*** The other nodes are back in reach"
    ))
    .await?;
    let mut back = bob
        .expect_eventually(":alice!text@127.0.0.1 JOIN #lobby")
        .await?;
    back.extend(
        bob.expect_eventually(":carol!text@127.0.0.1 JOIN #lobby")
            .await?,
    );
    assert!(
        back.iter().all(|l| !l.contains("PRIVMSG")),
        "nothing said meanwhile is delivered late: {back:?}"
    );
    // And now it can be.
    late.send("newbie").await?;
    late.expect_eventually("Nickname set: newbie").await?;
    bob.expect(":newbie!text@127.0.0.1 JOIN #lobby").await?;
    // Messages flow again, once each.
    alice.send("after").await?;
    bob.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :after")
        .await?;
    bob.send("PRIVMSG #lobby :welcome back").await?;
    carol.expect_eventually("bob: welcome back").await?;
    alice.expect_eventually("bob: welcome back").await?;
    // What bob missed is in the history, on his node too.
    let mut rita = reg(b, "rita", CAPS).await?;
    rita.send("JOIN #lobby").await?;
    rita.expect_eventually_prefix(&format!("{S} 366 rita #lobby "))
        .await?;
    let texts: Vec<String> = latest(&mut rita, "#lobby", "r")
        .await?
        .iter()
        .map(|l| l.rsplit_once(" :").map_or("", |(_, t)| t).to_owned())
        .collect();
    assert_eq!(
        texts,
        ["during the outage", "alone here", "after", "welcome back"]
    );

    cluster.clean_up().await?;
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn issue_15_proxy_headers_name_the_client_and_caps_count_every_node() -> anyhow::Result<()> {
    let cluster = Cluster::start_with("proxy", 2, &nats_url(), |c| {
        c.limits.proxy_from = vec!["127.0.0.1/32".parse().expect("net")];
        c.limits.max_connections_per_ip = std::num::NonZeroUsize::new(2).expect("2");
    })
    .await?;
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let v1 = |ip: &str| format!("PROXY TCP4 {ip} 127.0.0.1 40000 6667\r\n").into_bytes();

    // The client's own address, on both nodes, as the balancer named it.
    let mut p1 = behind(a, &v1("203.0.113.7"), "p1").await?;
    p1.send("JOIN #x").await?;
    p1.expect(":p1!~p1@203.0.113.7 JOIN #x").await?;
    let mut p2 = behind(b, &v1("203.0.113.7"), "p2").await?;
    sees(&mut p2, "p2", "#x", &["p1"]).await?;
    p2.send("JOIN #x").await?;
    p2.expect(":p2!~p2@203.0.113.7 JOIN #x").await?;
    p1.expect_eventually(":p2!~p2@203.0.113.7 JOIN #x").await?;

    // Two from 203.0.113.7 in the cluster already: a third is refused on either node.
    for node in [a, b] {
        let mut p3 = node.irc().await?;
        p3.send_raw(&v1("203.0.113.7")).await?;
        let refusal = p3.expect_prefix("ERROR :Closing link: ").await?;
        assert!(refusal.contains('2'), "{refusal}");
    }
    // Another address is welcome; a v2 header works the same.
    let _p4 = behind(a, &v1("203.0.113.8"), "p4").await?;
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend([
        0x21, 0x11, 0, 12, 198, 51, 100, 9, 127, 0, 0, 1, 0xC3, 0x50, 0x1A, 0x0B,
    ]);
    let mut p5 = behind(b, &v2, "p5").await?;
    p5.send("JOIN #x").await?;
    p1.expect_eventually(":p5!~p5@198.51.100.9 JOIN #x").await?;

    // From the balancer, no header is no connection.
    let mut bare = a.irc().await?;
    bare.send("NICK bare").await?;
    // Closed without a word (or reset, as the line sent was never read).
    let end = bare.next_line().await;
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");

    cluster.clean_up().await
}

#[tokio::test]
async fn issue_15_a_kline_set_on_one_node_holds_on_every_node() -> anyhow::Result<()> {
    use teahouse_testkit::teahouse_server::{Config, OperatorSection, admin};
    let hash = admin::hash_password(&Config::default(), "open sesame")?;
    let cluster = Cluster::start_with("kline", 2, &nats_url(), move |c| {
        c.operators = vec![OperatorSection {
            name: "admin".to_owned(),
            password_hash: hash.clone(),
            hosts: vec!["127.0.0.1".to_owned()],
        }];
    })
    .await?;
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let mut mallory = b.irc_login("mallory").await?;
    let mut op = a.irc_login("op").await?;
    op.send("OPER admin :open sesame").await?;
    op.expect(&format!("{S} 381 op :You are now an IRC operator"))
        .await?;
    op.send("KLINE 10m mallory!*@* :spamming").await?;
    op.expect_eventually(&format!(
        "{S} NOTICE op :Added ban on mallory!*@* for 10m: spamming (1 disconnected)"
    ))
    .await?;
    // The user on the other node goes at once, and may not come back there either.
    let rest = mallory.expect_closed().await?;
    assert!(
        rest.iter().any(|l| l.contains("Banned: spamming")),
        "{rest:?}"
    );
    // The ban reached node b before mallory's end did, so she is refused there now.
    let mut again = b.irc().await?;
    again.send("NICK mallory").await?;
    again.send("USER m 0 * :M").await?;
    again
        .expect_eventually("ERROR :Closing link: Banned (spamming)")
        .await?;
    // Lifting it tells the other nodes the same way.
    op.send("UNKLINE mallory!*@*").await?;
    op.expect_eventually_prefix(&format!("{S} NOTICE op :Removed ban on mallory!*@*"))
        .await?;
    cluster.clean_up().await
}
