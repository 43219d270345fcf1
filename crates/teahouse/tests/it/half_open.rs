//! A peer that vanishes without FIN or RST (half-open) is found by TCP keepalive and
//! announced as gone. The server and a watcher run in a network namespace of the test's own,
//! the vanishing client in a second one joined by a veth pair; taking the client's end of the
//! link down makes it vanish. Needs root and `ip` (iproute2), as CI has.

use std::process::{Command as StdCommand, Stdio};

use anyhow::{Context as _, ensure};
use teahouse_testkit::WAIT;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_teahouse");

/// Two namespaces and a veth pair, removed on drop.
struct Net {
    server_ns: String,
    client_ns: String,
    server_ip: String,
}

impl Net {
    fn new() -> anyhow::Result<Self> {
        let id = std::process::id();
        let net = Self {
            server_ns: format!("th-s-{id}"),
            client_ns: format!("th-c-{id}"),
            server_ip: format!("10.233.{}.1", id % 250),
        };
        let client_ip = format!("10.233.{}.2", id % 250);
        let (veth_s, veth_c) = (format!("ths{id}"), format!("thc{id}"));
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), net.server_ns.clone()],
            vec!["netns".into(), "add".into(), net.client_ns.clone()],
            vec![
                "link", "add", &veth_s, "type", "veth", "peer", "name", &veth_c,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["link", "set", &veth_s, "netns", &net.server_ns]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["link", "set", &veth_c, "netns", &net.client_ns]
                .into_iter()
                .map(String::from)
                .collect(),
        ];
        for step in steps {
            ip(&step)?;
        }
        for (ns, dev, addr) in [
            (&net.server_ns, &veth_s, &net.server_ip),
            (&net.client_ns, &veth_c, &client_ip),
        ] {
            ip_in(ns, &["addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip_in(ns, &["link", "set", dev, "up"])?;
            ip_in(ns, &["link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// The client's host drops off the network: its link goes down, so nothing it would
    /// send (not even a RST) reaches the server, while the server's sends still leave its
    /// side without a local error, as on a real network.
    fn cut(&self) -> anyhow::Result<()> {
        let id = std::process::id();
        ip_in(
            &self.client_ns,
            &["link", "set", &format!("thc{id}"), "down"],
        )
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = ip(&["netns".into(), "del".into(), self.server_ns.clone()]);
        let _ = ip(&["netns".into(), "del".into(), self.client_ns.clone()]);
    }
}

fn ip(args: &[String]) -> anyhow::Result<()> {
    let status = StdCommand::new("ip")
        .args(args)
        .status()
        .context("running `ip` (install iproute2; the test needs root for network namespaces)")?;
    ensure!(
        status.success(),
        "ip {} failed (the test needs root)",
        args.join(" ")
    );
    Ok(())
}

fn ip_in(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec![
        "netns".to_owned(),
        "exec".to_owned(),
        ns.to_owned(),
        "ip".to_owned(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    ip(&all)
}

/// `teahouse chat` inside `ns`, logged in as `nick`, stdin kept open.
fn chat_in(ns: &str, addr: &str, nick: &str) -> anyhow::Result<tokio::process::Child> {
    Command::new("ip")
        .args(["netns", "exec", ns, BIN, "chat", addr, "--nick", nick])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting teahouse chat in a namespace")
}

#[tokio::test]
async fn a_vanished_peer_is_found_by_keepalive_and_announced() -> anyhow::Result<()> {
    let net = Net::new()?;
    let dir = std::env::temp_dir().join(format!("teahouse-half-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("teahouse.toml");
    let addr = format!("{}:4567", net.server_ip);
    std::fs::write(
        &config,
        format!(
            "[connection]\nkeepalive = \"1s\"\n[text]\naddr = \"{addr}\"\n[irc]\naddr = \"off\"\n\
             [store]\ndata_dir = \":memory:\"\n"
        ),
    )?;
    let mut server = Command::new("ip")
        .args(["netns", "exec", &net.server_ns, BIN, "serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut log = BufReader::new(server.stderr.take().context("server log")?).lines();
    loop {
        let line = tokio::time::timeout(WAIT, log.next_line())
            .await??
            .context("server exited")?;
        if line.contains("listening") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });

    let mut watcher = chat_in(&net.server_ns, &addr, "watcher")?;
    let mut seen = BufReader::new(watcher.stdout.take().context("watcher stdout")?).lines();
    let mut saw = Vec::new();
    let mut expect = async |wanted: &str| -> anyhow::Result<()> {
        loop {
            let line = tokio::time::timeout(WAIT * 2, seen.next_line())
                .await
                .with_context(|| format!("waiting for {wanted:?}; saw {saw:?}"))??
                .with_context(|| format!("watcher output ended before {wanted:?}; saw {saw:?}"))?;
            if line == wanted {
                return Ok(());
            }
            saw.push(line);
        }
    };
    expect("* In lobby (1): watcher").await?;
    let _ghost = chat_in(&net.client_ns, &addr, "ghost")?;
    expect("* ghost entered the room").await?;
    // The client's host vanishes: no FIN, no RST ever reaches the server.
    net.cut()?;
    expect("* ghost left the room (connection lost)").await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
