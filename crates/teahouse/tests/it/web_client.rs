//! The web client (`web/`): its unit tests under Node, and the end-to-end test that drives
//! two headless Chromium pages and a `teahouse chat` user against the real binary
//! (`web/e2e/e2e.mjs`, with Playwright and Debian's Chromium).
//!
//! Both need Node.js and the packages of `web/package-lock.json`: `npm ci` is run here the
//! first time (as `.ci/run` does). The end-to-end test needs Chromium; when something is
//! missing the test fails and says how to install it. The screenshots of the page land in
//! `target/tmp/screenshots`, or with `TEAHOUSE_UPDATE_SCREENSHOTS=1` in `docs/screenshots`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use tokio::process::Command;
use tokio::sync::Mutex;

/// How long the whole end-to-end script may take (it bounds every wait of its own at 15 s).
const E2E_TIMEOUT: Duration = Duration::from_secs(600);

/// One `npm ci` at a time, and only once.
static NPM_READY: Mutex<bool> = Mutex::const_new(false);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

/// Makes sure Node.js is there and `web/node_modules` holds the locked packages.
async fn npm_ready() -> anyhow::Result<()> {
    let mut ready = NPM_READY.lock().await;
    if *ready {
        return Ok(());
    }
    let node = Command::new("node").arg("--version").output().await;
    ensure!(
        node.is_ok_and(|o| o.status.success()),
        "Node.js is missing: apt-get install -y nodejs npm (Node 20 or later)"
    );
    let web = web_dir();
    if !web.join("node_modules/.package-lock.json").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .status()
            .await
            .context("running npm ci in web/")?;
        ensure!(status.success(), "npm ci in web/ failed: {status}");
    }
    *ready = true;
    Ok(())
}

/// Runs a command to its end within `limit`; fails with its output if it does not succeed.
async fn run(mut command: Command, what: &str, limit: Duration) -> anyhow::Result<String> {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{what} did not finish within {limit:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("{what} failed ({}):\n{stdout}\n{stderr}", output.status);
    }
    Ok(stdout)
}

#[tokio::test]
async fn web_client_unit_tests_pass() -> anyhow::Result<()> {
    npm_ready().await?;
    let mut npm = Command::new("npm");
    npm.args(["test", "--silent"]).current_dir(web_dir());
    let out = run(npm, "the web client's unit tests", Duration::from_secs(300)).await?;
    ensure!(
        out.contains("# fail 0"),
        "the unit tests did not report zero failures:\n{out}"
    );
    Ok(())
}

#[tokio::test]
async fn issue_13_two_browser_pages_and_a_line_client_chat_in_one_room() -> anyhow::Result<()> {
    npm_ready().await?;
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    ensure!(
        Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: apt-get install -y chromium fonts-noto-cjk"
    );
    // The screenshots go under target/ on every run, and into docs/screenshots (checked
    // in) when asked: TEAHOUSE_UPDATE_SCREENSHOTS=1.
    let screenshots = if std::env::var_os("TEAHOUSE_UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    let mut node = Command::new("node");
    node.arg("e2e/e2e.mjs")
        .current_dir(web_dir())
        .env("TEAHOUSE_BIN", env!("CARGO_BIN_EXE_teahouse"))
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots);
    let out = run(node, "web/e2e/e2e.mjs", E2E_TIMEOUT).await?;
    println!("{out}");
    Ok(())
}
