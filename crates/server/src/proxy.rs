//! The PROXY protocol (HAProxy's, v1 text and v2 binary): a load balancer in `[limits]
//! proxy_from` opens each connection with a header naming the client, so that per-address
//! limits, bans, hosts and logs see the client rather than the balancer.
//!
//! Only listed addresses may send one, and from them one is required: anyone else's
//! header would be a forged address, and a balancer's connection without one is a
//! misconfiguration better refused than served as the balancer's own address.

use std::net::{IpAddr, SocketAddr};

use ppp::HeaderResult;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// The longest header taken: v1's is at most 107 bytes, v2's 16 plus its addresses and
/// TLVs; 536 is what HAProxy itself bounds them by.
const MAX_HEADER: usize = 536;

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Why a balancer's connection was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The connection failed or closed first.
    #[error("connection lost before the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    /// Not a PROXY header, or a malformed one.
    #[error("no valid PROXY header")]
    Invalid,
}

/// Reads the PROXY header off `stream`, byte for byte up to its end so that nothing of
/// what follows is taken; the client's address, or `None` for a `LOCAL` / `UNKNOWN`
/// header (the balancer's own health check).
pub(crate) async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyError> {
    let mut header = Vec::with_capacity(64);
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await?;
    header.push(first[0]);
    match first[0] {
        b'P' => {
            // v1: one line, CRLF-terminated.
            while !header.ends_with(b"\r\n") {
                if header.len() >= 107 {
                    return Err(ProxyError::Invalid);
                }
                stream.read_exact(&mut first).await?;
                header.push(first[0]);
            }
        }
        b'\r' => {
            // v2: 16 bytes, of which the last two are the length of the rest.
            header.resize(16, 0);
            stream.read_exact(&mut header[1..]).await?;
            if &header[..12] != V2_SIGNATURE {
                return Err(ProxyError::Invalid);
            }
            let rest = usize::from(u16::from_be_bytes([header[14], header[15]]));
            if 16 + rest > MAX_HEADER {
                return Err(ProxyError::Invalid);
            }
            header.resize(16 + rest, 0);
            stream.read_exact(&mut header[16..]).await?;
        }
        _ => return Err(ProxyError::Invalid),
    }
    parse(&header)
}

/// The client address a complete header names.
fn parse(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(header)) => Ok(match header.addresses {
            ppp::v1::Addresses::Tcp4(a) => {
                Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
            }
            ppp::v1::Addresses::Tcp6(a) => {
                Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
            }
            ppp::v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(header)) => Ok(match header.command {
            ppp::v2::Command::Local => None,
            ppp::v2::Command::Proxy => match header.addresses {
                ppp::v2::Addresses::IPv4(a) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                ppp::v2::Addresses::IPv6(a) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
            },
        }),
        _ => Err(ProxyError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_name_the_client() {
        let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 6667\r\n";
        assert_eq!(
            parse(v1).unwrap(),
            Some("203.0.113.7:51000".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), None);
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend([
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 127, 0, 0, 1, 0xC3, 0x50, 0x1A, 0x0B,
        ]);
        assert_eq!(
            parse(&v2).unwrap(),
            Some("198.51.100.9:50000".parse().unwrap())
        );
        assert!(parse(b"PROXY TCP4 nonsense\r\n").is_err());
        assert!(parse(b"NICK bob\r\n").is_err());
    }
}
