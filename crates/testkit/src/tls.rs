//! TLS for tests: a certificate authority of the test's own, certificates for `localhost`
//! signed by it and written where the server reads them, and a client that trusts only it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::WAIT;

/// A TLS client connection.
pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A test's own certificate authority.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    root: CertificateDer<'static>,
    dir: PathBuf,
}

impl TestCa {
    /// A new authority; the certificates it issues are written under `dir`.
    ///
    /// # Errors
    /// If the authority cannot be made.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate().context("CA key")?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).context("CA")?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "teahouse test CA");
        let root = params.self_signed(&key).context("CA certificate")?;
        Ok(Self {
            issuer: rcgen::Issuer::new(params, key),
            root: root.der().clone(),
            dir: dir.to_owned(),
        })
    }

    /// Issues a certificate for `localhost` and 127.0.0.1 and writes it and its key as
    /// `name.pem` and `name.key` (the files the server is pointed at); returns the
    /// certificate, to compare with what a client is shown.
    ///
    /// # Errors
    /// If it cannot be made or written.
    pub fn issue(&self, name: &str) -> anyhow::Result<(PathBuf, PathBuf, CertificateDer<'static>)> {
        let key = rcgen::KeyPair::generate().context("server key")?;
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .context("server certificate")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the server certificate")?;
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).context("writing the certificate")?;
        std::fs::write(&key_path, key.serialize_pem()).context("writing the key")?;
        Ok((cert_path, key_path, cert.der().clone()))
    }

    /// A TLS connection to `addr` as `localhost`, trusting only this authority; `alpn` the
    /// protocols to offer.
    ///
    /// # Errors
    /// If it cannot connect or the handshake fails (the error says why).
    pub async fn connect_alpn(
        &self,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> anyhow::Result<TlsStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.root.clone())
            .context("trusting the test CA")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let name = ServerName::try_from("localhost").context("server name")?;
        tokio::time::timeout(WAIT, connector.connect(name, tcp))
            .await
            .context("timed out in the TLS handshake")?
            .context("TLS handshake")
    }

    /// A TLS connection to `addr` as `localhost`, trusting only this authority.
    ///
    /// # Errors
    /// As [`TestCa::connect_alpn`].
    pub async fn connect(&self, addr: SocketAddr) -> anyhow::Result<TlsStream> {
        self.connect_alpn(addr, &[]).await
    }
}

/// The certificate the server showed on `stream`.
pub fn peer_certificate(stream: &TlsStream) -> Option<CertificateDer<'static>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| c.clone().into_owned())
}
