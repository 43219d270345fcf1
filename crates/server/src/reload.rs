//! Configuration reload (SIGHUP, `REHASH`): the configuration is read again and what can
//! change while the server runs changes; connections are never dropped. A reload that fails
//! (a file that does not parse, a certificate that does not load) changes nothing: the
//! running configuration stays, and the error is logged and answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use teahouse_hub::{ConnectionLimiter, Hub};
use teahouse_irc::IrcFace;
use teahouse_text::TextFace;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::Config;
use crate::error::Error;
use crate::tls::Tls;

/// Reload requests waiting at once; more are the same request (a reload reads everything).
const QUEUED_REQUESTS: usize = 4;

/// Reads the configuration again (the file and the flags), for each reload.
type Load = Box<dyn Fn() -> Result<Config, Error> + Send + Sync>;

/// One reload asked for, and who waits for its outcome.
struct Request {
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The server's side of reloading: the requests, and how to read the configuration.
pub struct Reloads {
    requests: mpsc::Receiver<Request>,
    /// For the server's own requests (`REHASH`).
    handle: ReloadHandle,
    load: Load,
    /// Called once every listener is serving (the binary tells systemd).
    ready: Option<Box<dyn FnOnce() + Send>>,
}

/// Asks a running server to reload its configuration.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    requests: mpsc::Sender<Request>,
}

impl Reloads {
    /// Reloads that read the configuration with `load`, and the handle that asks for them.
    pub fn new(
        load: impl Fn() -> Result<Config, Error> + Send + Sync + 'static,
    ) -> (Self, ReloadHandle) {
        let (tx, rx) = mpsc::channel(QUEUED_REQUESTS);
        let handle = ReloadHandle { requests: tx };
        (
            Self {
                requests: rx,
                handle: handle.clone(),
                load: Box::new(load),
                ready: None,
            },
            handle,
        )
    }

    /// Calls `ready` once the server serves on every listener.
    #[must_use]
    pub fn on_ready(mut self, ready: impl FnOnce() + Send + 'static) -> Self {
        self.ready = Some(Box::new(ready));
        self
    }

    /// A handle for the server's own requests.
    pub(crate) fn handle(&self) -> ReloadHandle {
        self.handle.clone()
    }

    /// Serves reload requests until `shutdown` completes.
    pub(crate) async fn serve(
        mut self,
        running: &Running,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) {
        if let Some(ready) = self.ready.take() {
            ready();
        }
        loop {
            let request = tokio::select! {
                () = shutdown.as_mut() => return,
                request = self.requests.recv() => request,
            };
            let Some(request) = request else {
                // Nobody can ask any more: wait for the end.
                shutdown.await;
                return;
            };
            let outcome = (self.load)().and_then(|config| running.apply(config));
            let outcome = match outcome {
                Ok(()) => {
                    info!("configuration reloaded");
                    Ok(())
                }
                Err(error) => {
                    let error = chain(&error);
                    warn!(%error, "configuration not reloaded; the running one stays");
                    Err(error)
                }
            };
            if let Some(done) = request.done {
                let _ = done.send(outcome);
            }
        }
    }
}

impl ReloadHandle {
    /// Reloads and waits for the outcome: the error, in words, if the configuration could
    /// not be reloaded (the running one stays then).
    ///
    /// # Errors
    /// Why the reload failed, or that the server has stopped.
    pub async fn reload(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request { done: Some(tx) })
            .await
            .map_err(|_| "the server has stopped".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the server has stopped".to_owned()))
    }
}

/// What a reload can change in the running server.
pub(crate) struct Running {
    pub(crate) config: Mutex<Config>,
    pub(crate) tls: Option<Arc<Tls>>,
    pub(crate) faces: Faces,
}

/// The faces and limits a reload reconfigures.
pub(crate) struct Faces {
    pub(crate) hub: Hub,
    pub(crate) limiter: ConnectionLimiter,
    pub(crate) text: TextFace,
    pub(crate) irc: IrcFace,
    pub(crate) ircs: IrcFace,
    pub(crate) ircs_port: Option<u16>,
    pub(crate) rehash: Option<teahouse_irc::Rehash>,
}

impl Running {
    /// Applies `config` wholly, or (on an error) not at all.
    fn apply(&self, config: Config) -> Result<(), Error> {
        let mut current = self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if config.needs_tls() && self.tls.is_none() {
            return Err(Error::Tls(
                "TLS listeners were added: they start with a restart".to_owned(),
            ));
        }
        // Everything that can fail, first: a certificate that does not load leaves the old
        // one in use.
        if let Some(tls) = &self.tls
            && config.needs_tls()
        {
            let files = config.tls_files()?;
            tls.reload(&files.cert, &files.key)?;
        }
        for (key, changed) in [
            ("text.addr", config.text.addr != current.text.addr),
            ("irc.addr", config.irc.addr != current.irc.addr),
            ("irc.tls_addr", config.irc.tls_addr != current.irc.tls_addr),
            ("web.addr", config.web.addr != current.web.addr),
            (
                "store",
                format!("{:?}", config.store) != format!("{:?}", current.store),
            ),
        ] {
            if changed {
                warn!(
                    key,
                    "changed in the configuration; it takes effect at the next restart"
                );
            }
        }
        // Then what cannot fail. New sessions get the new face settings (MOTD, flood
        // control, timeouts); sessions already open keep theirs.
        let faces = &self.faces;
        faces.hub.set_operators(config.hub_config().operators);
        faces.limiter.set_limits(config.limits.connection_limits());
        faces.text.reconfigure(config.text_config());
        faces
            .irc
            .reconfigure(config.irc_face_config(faces.ircs_port, false, &faces.rehash));
        faces
            .ircs
            .reconfigure(config.irc_face_config(faces.ircs_port, true, &faces.rehash));
        *current = config;
        Ok(())
    }
}

/// An error and its sources in one line, each said once.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
