//! The web face: an HTTP listener (axum on hyper) that serves the web client's page and
//! speaks IRC over WebSocket at `/ws`, per the IRCv3 WebSocket specification.
//!
//! A WebSocket runs the IRC face's own session ([`IrcFace::run_session`]) over
//! [`lines::WsLines`], so it is the same session code as TCP, with the same limits, flood
//! control and send queue. HTTP itself is kept at chat scale: small header buffers, a
//! deadline for the request head and for the whole exchange before an upgrade, an `Origin`
//! allow-list for the upgrade, and WebSocket messages no bigger than an IRC line with tags.

mod lines;

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use teahouse_hub::{ConnectionPermit, LimitRefusal};
use teahouse_irc::IrcFace;
use teahouse_wire::irc::{MAX_CLIENT_TAGS_BYTES, MAX_LINE_BYTES};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

use self::lines::{Mode, WRITE_TAKE_BYTES, WsLines};
use crate::listener::Face;

/// The largest WebSocket message (and frame) a client may send: an IRC line with the most
/// client tags the IRC face takes, and its CR LF. Anything bigger is no IRC line; the
/// connection is closed with 1009.
pub const MAX_MESSAGE_BYTES: usize = MAX_CLIENT_TAGS_BYTES + MAX_LINE_BYTES;

/// What the WebSocket reads into at a time. tungstenite's default is 128 KiB, allocated for
/// every connection (130 KB of RSS per idle connection, docs/BENCHMARKS.md); a chat line
/// is rarely 300 bytes, and a longer message is read in several steps into a buffer that
/// grows to fit it. 256 bytes cost no measurable CPU against 1 KiB and save 0.7 KB of
/// every connection.
const READ_BUFFER_BYTES: usize = 256;

/// Lines are gathered up to this much before a write to the socket (the driver's own batch
/// ends in a flush, so nothing waits here for long). Writing each message at once (0)
/// saves 1 KB of an idle connection but costs three times the CPU per delivery.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// The most the WebSocket holds unwritten: a write takes at most `WRITE_TAKE_BYTES` and
/// one more line onto a buffer flushed past `WRITE_BUFFER_BYTES`. The send queue proper is
/// the session's outbox.
const WRITE_BUFFER_MAX_BYTES: usize =
    WRITE_BUFFER_BYTES + WRITE_TAKE_BYTES + 2 * MAX_MESSAGE_BYTES + 64;

/// The subprotocols of the IRCv3 WebSocket specification, in the order they are preferred
/// when a client offers both.
const SUBPROTOCOLS: [(&str, Mode); 2] = [
    ("text.ircv3.net", Mode::Text),
    ("binary.ircv3.net", Mode::Binary),
];

/// The page's policy: its own script and style only, no inline script, no frames, and
/// connections to its own origin (where `/ws` is).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The web client, built by `web/build.mjs` into `web/dist/` and embedded here.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../../web/dist/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/dist/app.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/dist/app.css"),
    ),
    (
        "/icon.svg",
        "image/svg+xml",
        include_bytes!("../../../web/dist/icon.svg"),
    ),
];

/// The web face's settings (`[web]`).
#[derive(Debug, Clone)]
pub(crate) struct WebConfig {
    /// Origins (`scheme://host[:port]`) whose pages may open `/ws`, beyond the page's own.
    pub(crate) allowed_origins: Vec<String>,
    /// How long a connection may take to send a request head.
    pub(crate) handshake_timeout: Duration,
    /// How long a connection may stay plain HTTP (page loads) before it is closed.
    pub(crate) http_timeout: Duration,
    /// The most bytes of request head hyper buffers.
    pub(crate) max_header_bytes: usize,
}

/// The web face: cheap to clone, one per listener.
#[derive(Clone)]
pub(crate) struct WebFace {
    shared: Arc<Shared>,
}

struct Shared {
    router: Router,
    config: WebConfig,
    shutdown: CancellationToken,
}

/// What a handler needs of the face.
#[derive(Clone)]
struct WebState {
    irc: IrcFace,
    tracker: TaskTracker,
    origins: Arc<[String]>,
    assets: Arc<[Asset]>,
    metrics: Option<MetricsRoute>,
}

/// What `GET /metrics` renders, and for whom.
#[derive(Clone)]
pub(crate) struct MetricsRoute {
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) hub: teahouse_hub::Hub,
    pub(crate) limiter: teahouse_hub::ConnectionLimiter,
}

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: Bytes,
    etag: HeaderValue,
}

/// One HTTP connection's own facts, handed to its requests.
struct Conn {
    peer: SocketAddr,
    /// Taken by the connection's WebSocket, which then holds its place in the limits.
    permit: Mutex<Option<ConnectionPermit>>,
}

impl WebFace {
    /// A face that runs WebSocket sessions on `irc`, tracked by `tracker`.
    pub(crate) fn new(
        irc: IrcFace,
        config: WebConfig,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        metrics: Option<MetricsRoute>,
    ) -> Self {
        let assets = ASSETS
            .iter()
            .map(|&(path, content_type, body)| Asset {
                path,
                content_type,
                body: Bytes::from_static(body),
                etag: etag(body),
            })
            .collect();
        let state = WebState {
            irc,
            tracker,
            origins: config.allowed_origins.clone().into(),
            assets,
            metrics,
        };
        let router = Router::new()
            .route("/ws", get(websocket))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/metrics", get(metrics_page))
            .fallback(asset)
            .with_state(state);
        Self {
            shared: Arc::new(Shared {
                router,
                config,
                shutdown,
            }),
        }
    }
}

/// A strong validator for a body: a hash of its bytes (not a secret, only a name).
fn etag(body: &[u8]) -> HeaderValue {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    HeaderValue::try_from(format!("\"{:016x}\"", hasher.finish()))
        .expect("hex digits in quotes are a valid header value")
}

impl Face for WebFace {
    fn refusal_line(&self, refusal: LimitRefusal) -> Bytes {
        let body = format!("{refusal}\n");
        Bytes::from(format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn banned_line(&self, reason: &str) -> Bytes {
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let body = format!("You are banned from this server: {reason}\n");
        Bytes::from(format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn plaintext_on_tls(&self) -> Bytes {
        let body = "This port speaks HTTPS: open it with https://\n";
        Bytes::from(format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn run_session<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        permit: ConnectionPermit,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        async move {
            let conn = Arc::new(Conn {
                peer,
                permit: Mutex::new(Some(permit)),
            });
            let router = shared.router.clone();
            let service = hyper::service::service_fn(move |mut request: Request<_>| {
                request.extensions_mut().insert(Arc::clone(&conn));
                router.clone().oneshot(request.map(Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(shared.config.handshake_timeout)
                .max_buf_size(shared.config.max_header_bytes)
                .max_headers(64);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            let served = tokio::time::timeout(shared.config.http_timeout, async {
                tokio::select! {
                    result = connection.as_mut() => result,
                    () = shared.shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.as_mut().await
                    }
                }
            })
            .await;
            match served {
                Ok(Ok(())) => {}
                Ok(Err(error)) => debug!(%peer, %error, "http connection ended"),
                Err(_) => debug!(%peer, "http connection reached its time limit"),
            }
        }
    }
}

/// `GET /metrics`: Prometheus text, for loopback and the exempt ranges only (others get a
/// 404, as if there were nothing here).
async fn metrics_page(State(state): State<WebState>, request: Request) -> Response {
    let peer = request.extensions().get::<Arc<Conn>>().map(|c| c.peer.ip());
    match (&state.metrics, peer) {
        (Some(route), Some(ip)) if crate::metrics::may_scrape(&route.limiter, ip) => {
            let body = route.metrics.render(&route.hub, &route.limiter);
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            security_headers(response.headers_mut());
            response
        }
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `GET /ws`: the WebSocket handshake (RFC 6455), then an IRC session over it.
async fn websocket(State(state): State<WebState>, mut request: Request) -> Response {
    let Some(conn) = request.extensions().get::<Arc<Conn>>().cloned() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "no connection\n");
    };
    let headers = request.headers();
    if !is_upgrade(headers) {
        return plain(
            StatusCode::BAD_REQUEST,
            "this is IRC over WebSocket: send a WebSocket upgrade\n",
        );
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        let mut response = plain(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is spoken\n",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing\n");
    };
    if !is_origin_allowed(headers, &state.origins) {
        debug!(peer = %conn.peer, origin = ?headers.get(header::ORIGIN), "websocket origin refused");
        return plain(StatusCode::FORBIDDEN, "origin not allowed\n");
    }
    let (protocol, mode) = choose_subprotocol(headers);
    let accept = derive_accept_key(key.as_bytes());
    let Some(permit) = conn.permit.lock().ok().and_then(|mut slot| slot.take()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "this connection is upgraded already\n",
        );
    };
    let upgrade = hyper::upgrade::on(&mut request);
    let irc = state.irc.clone();
    let peer = conn.peer;
    state.tracker.spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                irc.run_session(WsLines::new(ws, mode), peer, permit).await;
            }
            Err(error) => debug!(%peer, %error, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::try_from(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    response
}

/// The WebSocket limits: chat-sized buffers, IRC-line-sized messages, masked client frames
/// only. No extension (permessage-deflate) is offered.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_MAX_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .accept_unmasked_frames(false)
}

/// Reads client frames with [`ws_config`]'s limits from `frames` until the first error or
/// the end (the fuzz target's entry); how many messages came through.
pub(crate) fn fuzz_frames(frames: &[u8]) -> usize {
    use tokio_tungstenite::tungstenite::WebSocket;
    let stream = std::io::Cursor::new(frames.to_vec());
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(ws_config()));
    let mut messages = 0;
    while ws.read().is_ok() {
        messages += 1;
    }
    messages
}

/// Whether a request asks to become a WebSocket (`Connection: upgrade`, `Upgrade:
/// websocket`, `GET`).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// Whether the page asking for the upgrade may: no `Origin` (not a browser, so no other
/// site's page acting for its user), the page's own origin (the `Host` it asked), or one of
/// `allowed` (`*` allows every origin).
fn is_origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    ["http://", "https://"].iter().any(|scheme| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
    })
}

/// The subprotocol to answer with, from those the client offers, and how lines then go.
/// None offered (or none known): no subprotocol, text messages.
fn choose_subprotocol(headers: &HeaderMap) -> (Option<&'static str>, Mode) {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    SUBPROTOCOLS
        .iter()
        .find(|(name, _)| offered.iter().any(|o| o.eq_ignore_ascii_case(name)))
        .map_or((None, Mode::Text), |&(name, mode)| (Some(name), mode))
}

/// The page and its assets, with validators so a reload costs a `304`.
async fn asset(State(state): State<WebState>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let path = match request.uri().path() {
        "/index.html" => "/",
        path => path,
    };
    let Some(asset) = state.assets.iter().find(|a| a.path == path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let is_fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag == asset.etag);
    let mut response = if is_fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(asset.body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, asset.etag.clone());
    // Revalidated on every load (a 304 when unchanged), so a new build is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(h);
    response
}

/// The headers every response of the web face carries.
fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    security_headers(response.headers_mut());
    response
}

/// Logs a bind warning for a web listener on a public address without TLS in front.
pub(crate) fn warn_if_public(addr: SocketAddr) {
    if !addr.ip().is_loopback() {
        warn!(%addr, "the web face listens beyond loopback without TLS; put a TLS proxy in front");
    }
}
