//! `teahouse`: the one binary. `teahouse serve` runs the server, `teahouse chat` the line
//! client. This is the only crate that installs a log subscriber or reads the environment.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use teahouse_server::{Config, Lang, ListenAddr, Listeners};
use tracing_subscriber::EnvFilter;

/// teahouse: a self-hosted chat server and its clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Chat from this terminal (or a script) over the plain-text protocol.
    Chat(ChatArgs),
    /// Load-test a chat server (teahouse, or any IRC server) on this machine.
    Bench(BenchArgs),
    /// Manage accounts and back up the store (no server needed; a backup works while one runs).
    Admin(AdminArgs),
}

/// Flags of `teahouse admin`: where the store is, as for `serve`; given before or after the
/// subcommand (`teahouse admin list-accounts --data-dir DIR` too).
#[derive(Debug, Args)]
struct AdminArgs {
    /// A TOML config file (for its `[store]` and `[accounts]` sections).
    #[arg(long, env = "TEAHOUSE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite store.
    #[arg(long, env = "TEAHOUSE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL, instead of the data directory.
    #[arg(
        long,
        env = "TEAHOUSE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    action: AdminAction,
}

/// What `teahouse admin` does. A password is read from `TEAHOUSE_ADMIN_PASSWORD` or, if
/// unset, from the first line of standard input: never from the command line.
#[derive(Debug, Subcommand)]
enum AdminAction {
    /// List the accounts.
    ListAccounts,
    /// Create an account (its name is the nickname it protects).
    CreateAccount {
        /// The account name.
        name: String,
    },
    /// Delete an account.
    DeleteAccount {
        /// The account name.
        name: String,
    },
    /// Set a new password on an account.
    ResetPassword {
        /// The account name.
        name: String,
    },
    /// Print the Argon2id hash of a password, for an `[[operators]]` block of the config
    /// (the password itself is never written there).
    HashPassword,
    /// Copy the SQLite store to a new file, consistently, even while the server runs.
    Backup {
        /// The file to write (must not exist).
        file: PathBuf,
    },
    /// Write a self-signed TLS certificate and key, to try TLS out (clients must be told
    /// to trust it; use a real certificate, e.g. from Let's Encrypt, for others).
    GenCert {
        /// Names the certificate is for: DNS names or IP addresses (default: localhost,
        /// 127.0.0.1 and ::1).
        names: Vec<String>,
        /// Where to write the certificate.
        #[arg(long, default_value = "teahouse-cert.pem")]
        cert: PathBuf,
        /// Where to write the private key (owner-only).
        #[arg(long, default_value = "teahouse-key.pem")]
        key: PathBuf,
    },
}

/// Flags of `teahouse bench`.
#[derive(Debug, Args)]
struct BenchArgs {
    /// fanout: N clients in one room, S send M messages each; idle: hold K registered
    /// connections; churn: connect-register-join-say-quit in a loop.
    #[arg(value_enum)]
    workload: WorkloadArg,
    /// The server (loopback only).
    #[arg(long, default_value = "127.0.0.1:6667")]
    addr: std::net::SocketAddr,
    /// More servers (the other nodes of a cluster, loopback only), comma-separated: the
    /// clients are spread over --addr and these in turn.
    #[arg(long, value_delimiter = ',')]
    more_addrs: Vec<std::net::SocketAddr>,
    /// Protocol to speak.
    #[arg(long, value_enum, default_value_t = ProtoArg::Irc)]
    proto: ProtoArg,
    /// fanout: clients (N); idle: connections (K).
    #[arg(long, short = 'n', default_value_t = 100)]
    clients: usize,
    /// fanout: senders (S).
    #[arg(long, short = 's', default_value_t = 10)]
    senders: usize,
    /// fanout: messages per sender (M).
    #[arg(long, short = 'm', default_value_t = 1000)]
    messages: usize,
    /// fanout: closed loop, at most W unacknowledged messages per sender.
    #[arg(long, conflicts_with = "rate")]
    window: Option<usize>,
    /// fanout: paced, R messages per second per sender; churn: cycles per second.
    #[arg(long)]
    rate: Option<f64>,
    /// fanout: this many more clients that join and never read.
    #[arg(long, default_value_t = 0)]
    silent: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// The server's pid, for its CPU time and memory (from /proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// More pids whose CPU time and memory count with the server's (the other nodes, the
    /// NATS server), comma-separated.
    #[arg(long, value_delimiter = ',')]
    more_pids: Vec<u32>,
    /// IRC: `NAME:PASSWORD` to OPER with after registering.
    #[arg(long)]
    oper: Option<String>,
    /// IRC: user modes to set after registering (ngIRCd: `+F` lifts flood penalties).
    #[arg(long)]
    umode: Option<String>,
    /// IRC channel to use.
    #[arg(long, default_value = "#bench")]
    channel: String,
    /// Connections set up at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// idle: how long to hold the connections; churn: how long to run.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    duration: Duration,
    /// Nick prefix (runs against one server must not collide).
    #[arg(long, default_value = "b")]
    nick_prefix: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Print progress to stderr.
    #[arg(long)]
    progress: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkloadArg {
    Fanout,
    Idle,
    Churn,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtoArg {
    Text,
    Irc,
    /// IRC over WebSocket: `--addr` is the web listener.
    Ws,
    /// IRC over TLS: `--addr` is the IRC TLS port (its certificate is not checked).
    Ircs,
}

/// Flags of `teahouse serve`; each overrides the config file and has a `TEAHOUSE_` variable.
#[derive(Debug, Args)]
struct ServeArgs {
    /// A TOML config file (see teahouse.example.toml).
    #[arg(long, env = "TEAHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Plain-text listener address, or `off`.
    #[arg(long, env = "TEAHOUSE_TEXT_ADDR")]
    text_addr: Option<ListenAddr>,
    /// IRC listener address, or `off`.
    #[arg(long, env = "TEAHOUSE_IRC_ADDR")]
    irc_addr: Option<ListenAddr>,
    /// Web listener address (the web client and IRC over WebSocket at /ws), or `off`.
    #[arg(long, env = "TEAHOUSE_WEB_ADDR")]
    web_addr: Option<ListenAddr>,
    /// IRC over TLS listener address (6697 is usual), or `off`; needs --tls-cert and
    /// --tls-key.
    #[arg(long, env = "TEAHOUSE_IRCS_ADDR")]
    ircs_addr: Option<ListenAddr>,
    /// Serve the web listener as HTTPS and WSS; needs --tls-cert and --tls-key.
    #[arg(long, env = "TEAHOUSE_WEB_TLS")]
    web_tls: bool,
    /// The TLS certificate chain, PEM (read again on SIGHUP).
    #[arg(long, env = "TEAHOUSE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key, PEM (read again on SIGHUP).
    #[arg(long, env = "TEAHOUSE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// IRC connection password (PASS); the environment keeps it out of `ps`.
    #[arg(long, env = "TEAHOUSE_IRC_PASSWORD", hide_env_values = true)]
    irc_password: Option<String>,
    /// Worker threads of the async runtime (0: one per core). On a small machine shared with
    /// other work, 1 spends the least CPU per delivered message.
    #[arg(long, env = "TEAHOUSE_WORKERS")]
    workers: Option<usize>,
    /// Turn flood control off on every face (for benchmarks only).
    #[arg(long, env = "TEAHOUSE_NO_FLOOD_CONTROL")]
    no_flood_control: bool,
    /// Language of the plain-text face.
    #[arg(long, env = "TEAHOUSE_LANG")]
    lang: Option<LangArg>,
    /// The room users enter after choosing a nickname.
    #[arg(long, env = "TEAHOUSE_DEFAULT_ROOM")]
    default_room: Option<String>,
    /// Longest accepted line, in bytes.
    #[arg(long, env = "TEAHOUSE_MAX_LINE_BYTES")]
    max_line_bytes: Option<NonZeroUsize>,
    /// Time allowed to choose a nickname (e.g. 60s).
    #[arg(long, env = "TEAHOUSE_LOGIN_TIMEOUT", value_parser = humantime::parse_duration)]
    login_timeout: Option<Duration>,
    /// Bytes queued for one slow connection before it is cut off (text and IRC).
    #[arg(long, env = "TEAHOUSE_SENDQ_BYTES")]
    sendq_bytes: Option<NonZeroUsize>,
    /// Connections open at once, in all.
    #[arg(long, env = "TEAHOUSE_MAX_CONNECTIONS")]
    max_connections: Option<NonZeroUsize>,
    /// Connections open at once from one address (loopback exempt by default).
    #[arg(long, env = "TEAHOUSE_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<NonZeroUsize>,
    /// Directory of the embedded SQLite store (accounts, history); `:memory:` keeps
    /// nothing after exit.
    #[arg(long, env = "TEAHOUSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL to use instead of SQLite; the environment keeps its password out of
    /// `ps`.
    #[arg(long, env = "TEAHOUSE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Do not store messages (no history, no replay).
    #[arg(long, env = "TEAHOUSE_NO_HISTORY")]
    no_history: bool,
    /// Join a cluster through this NATS server (JetStream on), e.g. nats://127.0.0.1:4222;
    /// give every node the same --database-url.
    #[arg(long, env = "TEAHOUSE_CLUSTER")]
    cluster: Option<String>,
    /// This node's name in the cluster, the same across its restarts.
    #[arg(long, env = "TEAHOUSE_NODE_NAME")]
    node_name: Option<String>,
    /// What the cluster's NATS subjects and buckets start with.
    #[arg(long, env = "TEAHOUSE_CLUSTER_PREFIX")]
    cluster_prefix: Option<String>,
    /// Log filter (RUST_LOG overrides it), e.g. `info` or `teahouse_text=debug`.
    #[arg(long, env = "TEAHOUSE_LOG", default_value = "info")]
    log: String,
    /// Log format.
    #[arg(long, env = "TEAHOUSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Debug, Args)]
struct ChatArgs {
    /// Server address, `host:port` or `host` (port 4567).
    #[arg(default_value = "127.0.0.1:4567")]
    addr: String,
    /// Nickname to ask for at once.
    #[arg(long)]
    nick: Option<String>,
    /// Language of the client's own messages.
    #[arg(long, env = "TEAHOUSE_LANG", default_value = "en")]
    lang: LangArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LangArg {
    En,
    Zh,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(args) = &cli.command {
        // Flag (or TEAHOUSE_WORKERS) first, then the config file; 0 or unset: one per core.
        let workers = args.workers.or_else(|| {
            let path = args.config.as_ref()?;
            Config::load(path).ok().map(|c| c.server.workers)
        });
        if let Some(workers) = workers.filter(|w| *w > 0) {
            builder.worker_threads(workers);
        }
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("teahouse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => match runtime.block_on(serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("teahouse: {}", said_once(&error));
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => match runtime.block_on(bench(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("teahouse bench: {}", said_once(&error));
                ExitCode::FAILURE
            }
        },
        Command::Admin(args) => match runtime.block_on(admin(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("teahouse admin: {}", said_once(&error));
                ExitCode::FAILURE
            }
        },
        Command::Chat(args) => {
            let lang = match args.lang {
                LangArg::En => teahouse_client::Lang::En,
                LangArg::Zh => teahouse_client::Lang::Zh,
            };
            let config = teahouse_client::line::LineConfig {
                addr: args.addr,
                nick: args.nick,
                lang,
            };
            let result = runtime.block_on(teahouse_client::line::run(config));
            // The terminal reader may hold a blocking stdin read; do not wait for it.
            runtime.shutdown_background();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("{}", error.user_message(lang));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// An error and its causes on one line, a cause that only repeats what was said left out
/// (a library error wrapped by ours often carries the same words).
fn said_once(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use teahouse_bench::{BenchConfig, Pacing, Proto, Workload};
    for addr in std::iter::once(&args.addr).chain(&args.more_addrs) {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "teahouse bench only loads servers on this machine (loopback), not {addr}"
        );
    }
    let proto = match args.proto {
        ProtoArg::Text => Proto::Text,
        ProtoArg::Irc => Proto::Irc,
        ProtoArg::Ws => Proto::Ws,
        ProtoArg::Ircs => Proto::Ircs,
    };
    let workload = match args.workload {
        WorkloadArg::Fanout => Workload::Fanout {
            clients: args.clients,
            senders: args.senders,
            messages: args.messages,
            pacing: match (args.window, args.rate) {
                (Some(w), _) => Pacing::Window(w),
                (None, Some(r)) => Pacing::Rate(r),
                (None, None) => Pacing::Open,
            },
            silent: args.silent,
        },
        WorkloadArg::Idle => Workload::Idle {
            connections: args.clients,
            hold: args.duration,
        },
        WorkloadArg::Churn => Workload::Churn {
            rate: args.rate.unwrap_or(50.0),
            duration: args.duration,
        },
    };
    let clients = match workload {
        Workload::Fanout {
            clients, silent, ..
        } => clients + silent,
        _ => args.clients,
    };
    let workload = match workload {
        Workload::Fanout {
            senders,
            messages,
            pacing,
            silent,
            ..
        } => Workload::Fanout {
            clients,
            senders,
            messages,
            pacing,
            silent,
        },
        other => other,
    };
    let mut config = BenchConfig::new(args.addr, proto, workload);
    config.payload_bytes = args.payload.max(40);
    config.server_pid = args.server_pid;
    config.more_pids.clone_from(&args.more_pids);
    config.more_addrs.clone_from(&args.more_addrs);
    config.irc_oper = match &args.oper {
        Some(spec) => {
            let (name, password) = spec.split_once(':').context("--oper takes NAME:PASSWORD")?;
            Some((name.to_owned(), password.to_owned()))
        }
        None => None,
    };
    config.irc_umode = args.umode.clone();
    config.channel = args.channel.clone();
    config.connect_concurrency = args.concurrency;
    config.is_progress = args.progress;
    config.nick_prefix = args.nick_prefix.clone();
    let report = teahouse_bench::run(config).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log, args.log_format)?;
    let config = load_config(&args)?;
    let listeners = Listeners::bind(&config).await?;
    let args = std::sync::Arc::new(args);
    let (reloads, handle) = teahouse_server::Reloads::new({
        let args = std::sync::Arc::clone(&args);
        move || load_config(&args).map_err(|e| teahouse_server::Error::Reload(said_once(&e)))
    });
    tokio::spawn(reload_on_hangup(handle));
    // Under systemd (Type=notify), say when serving starts; outside it this does nothing.
    let reloads = reloads.on_ready(|| notify(&[sd_notify::NotifyState::Ready]));
    teahouse_server::run_with_reloads(config, listeners, shutdown_signal(), Some(reloads)).await?;
    Ok(())
}

/// Tells systemd how the service is (a no-op without `NOTIFY_SOCKET`).
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "could not notify systemd");
    }
}

/// The config file, then the flags and environment over it.
fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    apply_flags(&mut config, args)?;
    Ok(config)
}

/// Asks for a configuration reload on every SIGHUP.
async fn reload_on_hangup(handle: teahouse_server::ReloadHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; reload with REHASH only");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!(
                signal = "SIGHUP",
                "signal received: reloading the configuration"
            );
            let usec = sd_notify::NotifyState::monotonic_usec_now().ok();
            let mut reloading = vec![sd_notify::NotifyState::Reloading];
            reloading.extend(usec);
            notify(&reloading);
            // The outcome is logged by the server; systemd is told it is done either way.
            let _ = handle.reload().await;
            notify(&[sd_notify::NotifyState::Ready]);
        }
    }
    #[cfg(not(unix))]
    drop(handle);
}

async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    use teahouse_server::admin;
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &args.data_dir {
        config.store.data_dir = dir.clone();
    }
    if let Some(url) = &args.database_url {
        config.store.database_url = Some(url.clone());
    }
    let location = config.store.location();
    match &args.action {
        AdminAction::ListAccounts => {
            for (name, created_ms) in admin::list_accounts(&location).await? {
                let created = std::time::UNIX_EPOCH
                    + Duration::from_millis(u64::try_from(created_ms).unwrap_or(0));
                println!("{name}\t{}", humantime::format_rfc3339_seconds(created));
            }
        }
        AdminAction::CreateAccount { name } => {
            let password = admin_password()?;
            admin::create_account(&config, &location, name, &password).await?;
            println!("account {name} created");
        }
        AdminAction::DeleteAccount { name } => {
            admin::delete_account(&location, name).await?;
            println!("account {name} deleted");
        }
        AdminAction::ResetPassword { name } => {
            let password = admin_password()?;
            admin::reset_password(&config, &location, name, &password).await?;
            println!("password of {name} reset");
        }
        AdminAction::HashPassword => {
            let password = admin_password()?;
            println!("{}", admin::hash_password(&config, &password)?);
        }
        AdminAction::Backup { file } => {
            admin::backup(&location, file).await?;
            println!("backed up to {}", file.display());
        }
        AdminAction::GenCert { names, cert, key } => {
            teahouse_server::generate_self_signed(names, cert, key)?;
            println!(
                "wrote {} and {}: serve with --tls-cert {} --tls-key {} --ircs-addr 127.0.0.1:6697",
                cert.display(),
                key.display(),
                cert.display(),
                key.display()
            );
        }
    }
    Ok(())
}

/// The password for an admin command: `TEAHOUSE_ADMIN_PASSWORD`; else, on a terminal, a
/// prompt that does not echo; else the first line of standard input (a pipe).
fn admin_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if let Ok(password) = std::env::var("TEAHOUSE_ADMIN_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        // Not echoed, and asked twice: a typo would otherwise set a password nobody knows.
        let password = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Password again: ").context("reading the password")?;
        anyhow::ensure!(
            password == again,
            "the two passwords differ; nothing was changed"
        );
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Flags and environment win over the file.
fn apply_flags(config: &mut Config, args: &ServeArgs) -> anyhow::Result<()> {
    if let Some(addr) = args.text_addr {
        config.text.addr = addr;
    }
    if let Some(addr) = args.irc_addr {
        config.irc.addr = addr;
    }
    if let Some(addr) = args.web_addr {
        config.web.addr = addr;
    }
    if let Some(addr) = args.ircs_addr {
        config.irc.tls_addr = addr;
    }
    if args.web_tls {
        config.web.tls = true;
    }
    if let Some(cert) = &args.tls_cert {
        config.tls.cert = Some(cert.clone());
    }
    if let Some(key) = &args.tls_key {
        config.tls.key = Some(key.clone());
    }
    if let Some(password) = &args.irc_password {
        config.irc.password = Some(password.clone());
    }
    if args.no_flood_control {
        config.irc.flood.enabled = false;
        config.text.flood.enabled = false;
    }
    if let Some(lang) = args.lang {
        config.text.lang = match lang {
            LangArg::En => Lang::En,
            LangArg::Zh => Lang::Zh,
        };
    }
    if let Some(room) = &args.default_room {
        config.text.default_room = teahouse_types_room(room)?;
    }
    if let Some(v) = args.max_line_bytes {
        config.text.max_line_bytes = v;
    }
    if let Some(v) = args.login_timeout {
        config.text.login_timeout = v;
    }
    if let Some(v) = args.sendq_bytes {
        config.connection.sendq_bytes = v;
    }
    if let Some(v) = args.workers {
        config.server.workers = v;
    }
    if let Some(v) = args.max_connections {
        config.limits.max_connections = v;
    }
    if let Some(v) = args.max_connections_per_ip {
        config.limits.max_connections_per_ip = v;
    }
    if let Some(dir) = &args.data_dir {
        config.store.data_dir = dir.clone();
    }
    if let Some(url) = &args.database_url {
        config.store.database_url = Some(url.clone());
    }
    if args.no_history {
        config.history.enabled = false;
    }
    if let Some(url) = &args.cluster {
        config.cluster.url = Some(url.clone());
    }
    if let Some(name) = &args.node_name {
        config.cluster.node_name.clone_from(name);
    }
    if let Some(prefix) = &args.cluster_prefix {
        config.cluster.prefix.clone_from(prefix);
    }
    Ok(())
}

fn teahouse_types_room(room: &str) -> anyhow::Result<teahouse_server::RoomName> {
    teahouse_server::RoomName::parse(room).with_context(|| format!("--default-room {room:?}"))
}

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(&env).context("parsing RUST_LOG")?,
        _ => EnvFilter::try_new(filter).with_context(|| format!("parsing --log {filter:?}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => tracing::info!(signal = "SIGINT", "signal received"),
            _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
        }
        notify(&[sd_notify::NotifyState::Stopping]);
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
