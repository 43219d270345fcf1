//! TLS for the IRC and web listeners: rustls with the ring provider, the certificate and key
//! from PEM files, swapped on reload without touching a live connection.
//!
//! Both listeners share one [`Tls`]: its certificate resolver answers every handshake with
//! the key loaded last, so a reload (SIGHUP, `REHASH`) changes what the next client sees and
//! nothing else. A handshake has a deadline and a slot among a bounded number in flight; a
//! connection that does not open with a TLS record gets one plain-text explanation and is
//! closed, never left waiting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use teahouse_hub::ConnectionPermit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::error::Error;
use crate::listener::Face;

/// The first byte of a TLS record that carries a handshake (a ClientHello opens with one).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long a refused plain-text client gets to take its explanation before the close.
const LINGER: Duration = Duration::from_secs(1);

/// What the TLS listeners share: the certificate in use, the handshake bounds.
pub(crate) struct Tls {
    resolver: Arc<Resolver>,
    irc: TlsAcceptor,
    web: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: Semaphore,
}

/// Which listener a handshake is for: the web one names HTTP/1.1 in ALPN.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Service {
    /// IRC over TLS.
    Irc,
    /// HTTPS and WSS.
    Web,
}

impl Tls {
    /// Loads the certificate chain and key and builds both listeners' TLS settings.
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file and what is wrong with it.
    pub(crate) fn new(
        cert: &Path,
        key: &Path,
        handshake_timeout: Duration,
        max_handshakes: usize,
    ) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(load(cert, key, &provider)?)),
            provider: Arc::clone(&provider),
        });
        let config = |alpn: &[&[u8]]| -> Result<TlsAcceptor, Error> {
            let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))?
                .with_no_client_auth()
                .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            // Session tickets would keep a ticket key per server; resumption saves a chat
            // client little, since it connects once and stays.
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        Ok(Self {
            irc: config(&[])?,
            web: config(&[b"http/1.1"])?,
            resolver,
            handshake_timeout,
            handshakes: Semaphore::new(max_handshakes.max(1)),
        })
    }

    /// Loads the certificate and key again (perhaps from other files): the next handshake
    /// uses them, connections already open keep theirs. On an error the old ones stay.
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file and what is wrong with it.
    pub(crate) fn reload(&self, cert: &Path, key: &Path) -> Result<(), Error> {
        let loaded = load(cert, key, &self.resolver.provider)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
        info!(cert = %cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Runs one accepted connection: the TLS handshake, then `face`'s session over it.
    pub(crate) async fn serve<F: Face>(
        self: Arc<Self>,
        service: Service,
        face: F,
        stream: TcpStream,
        peer: SocketAddr,
        permit: ConnectionPermit,
    ) {
        let Ok(slot) = self.handshakes.try_acquire() else {
            debug!(%peer, "too many TLS handshakes in flight; connection closed");
            return;
        };
        let acceptor = match service {
            Service::Irc => self.irc.clone(),
            Service::Web => self.web.clone(),
        };
        let handshake = async {
            let mut first = [0u8; 1];
            match stream.peek(&mut first).await {
                Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
                Ok(1) => return Err(Handshake::Plaintext(stream)),
                _ => return Err(Handshake::Failed("closed before the handshake".into())),
            }
            // Boxed: a handshake's state is big and brief, the session after it is small
            // and long, and an unboxed one would size the whole task.
            Box::pin(acceptor.accept(stream))
                .await
                .map(Box::new)
                .map_err(|e| Handshake::Failed(e.to_string()))
        };
        let handshake = tokio::time::timeout(self.handshake_timeout, handshake).await;
        drop(slot);
        let tls = match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(Handshake::Plaintext(stream))) => {
                debug!(%peer, "plain text on a TLS port; told so and closed");
                refuse_plaintext(stream, face.plaintext_on_tls()).await;
                return;
            }
            Ok(Err(Handshake::Failed(reason))) => {
                debug!(%peer, %reason, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        face.run_session(tls, peer, permit).await;
    }
}

/// Why a handshake did not give a TLS stream.
enum Handshake {
    /// The client spoke first, and not TLS.
    Plaintext(TcpStream),
    /// The handshake failed (the reason, for the log).
    Failed(String),
}

/// Tells a plain-text client on a TLS port what is wrong, then closes after reading what it
/// still sends for a moment: closing with its input unread would reset the connection, and a
/// reset can throw away the explanation before the client reads it.
async fn refuse_plaintext(mut stream: TcpStream, explanation: Bytes) {
    let _ = stream.write_all(&explanation).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 512];
    let drain = async {
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Answers every handshake with the certificate loaded last.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// Reads a PEM certificate chain (leaf first) and its private key, and checks they belong
/// together.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("certificate {}: {}", cert.display(), pem_error(&e))))?;
    if chain.is_empty() {
        return Err(Error::Tls(format!(
            "certificate {}: no CERTIFICATE in the file",
            cert.display()
        )));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("key {}: {}", key.display(), pem_error(&e))))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        Error::Tls(format!(
            "certificate {} with key {}: {e}",
            cert.display(),
            key.display()
        ))
    })
}

fn pem_error(error: &rustls_pki_types::pem::Error) -> String {
    match error {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "nothing of that kind in the file".into(),
        other => format!("not valid PEM ({other})"),
    }
}

/// A self-signed certificate for trying TLS out: for `names` (DNS names or IP addresses;
/// `localhost`, 127.0.0.1 and ::1 when empty), written as PEM to `cert` and `key` (the key
/// owner-only). Clients must be told to trust it, or not to verify.
///
/// # Errors
/// [`Error::Tls`] if the certificate cannot be made or written.
pub fn generate_self_signed(names: &[String], cert: &Path, key: &Path) -> Result<(), Error> {
    let names = if names.is_empty() {
        vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ]
    } else {
        names.to_vec()
    };
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::Tls(format!("cannot make a certificate: {e}")))?;
    write_file(cert, made.cert.pem().as_bytes(), 0o644)?;
    write_file(key, made.signing_key.serialize_pem().as_bytes(), 0o600)?;
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| Error::Tls(format!("cannot write {}: {e}", path.display())))
}

/// The certificate and key files of a TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}
