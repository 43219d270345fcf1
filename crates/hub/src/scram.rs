//! SASL `SCRAM-SHA-256` (RFC 5802, RFC 7677) on the server's side: the keys an account
//! keeps instead of its password, and the two steps of an exchange. Channel binding
//! (`-PLUS`) is not offered, so a client asking for it is refused.

use std::fmt;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// PBKDF2 rounds for new keys: RFC 7677's minimum, what clients and other servers use.
pub(crate) const ITERATIONS: u32 = 4096;

/// Fewer rounds than this in stored keys are not accepted (a damaged or planted record).
const MIN_ITERATIONS: u32 = 4096;

/// More than this are refused too: a stored value must not make a login cost seconds.
const MAX_ITERATIONS: u32 = 1_000_000;

/// An account's SCRAM-SHA-256 keys: the salt and rounds the client derives its password
/// with, and `StoredKey` and `ServerKey`, from which the password cannot be found.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ScramKeys {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl ScramKeys {
    /// Keys for `password` with a new random salt.
    pub(crate) fn derive(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Self::derive_with(password, salt, ITERATIONS)
    }

    fn derive_with(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        Self {
            iterations,
            salt,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Keys that no password matches, with a salt that is the same every time for `name`
    /// (from `secret`): what an unknown account is answered with, so that the exchange
    /// does not tell whether it exists.
    pub(crate) fn decoy(name: &str, secret: &[u8]) -> Self {
        let salt = hmac(secret, name.as_bytes())[..16].to_vec();
        let mut stored_key = [0u8; 32];
        OsRng.fill_bytes(&mut stored_key);
        Self {
            iterations: ITERATIONS,
            salt,
            stored_key,
            server_key: [0; 32],
        }
    }

    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64, as stored.
    pub(crate) fn encode(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }

    /// Reads [`Self::encode`]'s form; `None` for anything else.
    pub(crate) fn decode(stored: &str) -> Option<Self> {
        let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return None;
        }
        Some(Self {
            iterations,
            salt: BASE64.decode(salt).ok()?,
            stored_key: BASE64.decode(stored_key).ok()?.try_into().ok()?,
            server_key: BASE64.decode(server_key).ok()?.try_into().ok()?,
        })
    }
}

/// The SCRAM-SHA-256 keys for `password` with a new salt, in their stored form (for the
/// admin tool, which writes accounts itself).
pub fn scram_keys(password: &str) -> String {
    ScramKeys::derive(password).encode()
}

/// Why an exchange failed: every case is answered the same way (904), the kinds are for
/// the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScramError {
    /// A message that is not what RFC 5802 says it is.
    #[error("a malformed SCRAM message")]
    Malformed,
    /// The client wants channel binding, or an identity other than its own.
    #[error("channel binding or another identity asked for")]
    Unsupported,
    /// The proof does not match the keys: a wrong password or an unknown account.
    #[error("wrong password or unknown account")]
    BadProof,
}

/// The client's first message, read: who it is, and what the server's reply will need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientFirst {
    /// The user name (`n=`), decoded.
    pub(crate) user: String,
    gs2_header: String,
    bare: String,
    nonce: String,
}

impl ClientFirst {
    /// `gs2-header client-first-message-bare`: `n,,n=user,r=nonce`. `y` (the client could
    /// bind but thinks we cannot) is accepted; `p=` (binding wanted) is refused, as is an
    /// authorization identity other than the user.
    pub(crate) fn parse(message: &str) -> Result<Self, ScramError> {
        let (flag, rest) = message.split_once(',').ok_or(ScramError::Malformed)?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::Unsupported),
            _ => return Err(ScramError::Malformed),
        }
        let (authzid, bare) = rest.split_once(',').ok_or(ScramError::Malformed)?;
        let gs2_header = format!("{flag},{authzid},");
        let mut fields = bare.split(',');
        let user = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .ok_or(ScramError::Malformed)
            .and_then(decode_name)?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b','))
            .ok_or(ScramError::Malformed)?;
        if let Some(authzid) = authzid.strip_prefix("a=") {
            if decode_name(authzid)? != user {
                return Err(ScramError::Unsupported);
            }
        } else if !authzid.is_empty() {
            return Err(ScramError::Malformed);
        }
        Ok(Self {
            user,
            gs2_header,
            bare: bare.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

/// `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn decode_name(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at..at + 3).ok_or(ScramError::Malformed)?;
        out.push(match code {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err(ScramError::Malformed),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed);
    }
    Ok(out)
}

/// An exchange after the server's first message: what checking the client's proof needs.
#[derive(Debug, Clone)]
pub struct ScramExchange {
    keys: ScramKeys,
    /// The account, if it exists (an unknown one gets decoy keys and fails at the proof).
    pub(crate) account: Option<String>,
    client_first: ClientFirst,
    server_first: String,
    nonce: String,
}

impl ScramExchange {
    /// Starts an exchange: the server's first message, `r=nonce,s=salt,i=iterations`.
    pub(crate) fn start(
        client_first: ClientFirst,
        keys: ScramKeys,
        account: Option<String>,
    ) -> (Self, String) {
        let mut ours = [0u8; 18];
        OsRng.fill_bytes(&mut ours);
        let nonce = format!("{}{}", client_first.nonce, BASE64.encode(ours));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&keys.salt),
            keys.iterations
        );
        let exchange = Self {
            keys,
            account,
            client_first,
            server_first: server_first.clone(),
            nonce,
        };
        (exchange, server_first)
    }

    /// The user name the client gave.
    pub(crate) fn user(&self) -> &str {
        &self.client_first.user
    }

    /// Checks the client's final message, `c=binding,r=nonce,p=proof`: the server's final
    /// message, `v=signature`, if the proof is right.
    pub(crate) fn finish(&self, client_final: &str) -> Result<String, ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed)?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .and_then(|c| BASE64.decode(c).ok())
            .ok_or(ScramError::Malformed)?;
        if binding != self.client_first.gs2_header.as_bytes() {
            return Err(ScramError::Malformed);
        }
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or(ScramError::Malformed)?;
        if nonce != self.nonce {
            return Err(ScramError::Malformed);
        }
        let proof: [u8; 32] = BASE64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Malformed)?;
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first.bare, self.server_first
        );
        let signature = hmac(&self.keys.stored_key, auth_message.as_bytes());
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(signature) {
            *k ^= s;
        }
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        if !bool::from(stored.ct_eq(&self.keys.stored_key)) || self.account.is_none() {
            return Err(ScramError::BadProof);
        }
        let server_signature = hmac(&self.keys.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// A whole exchange against fixed keys (for the fuzz target): `true` if the proof held.
pub(crate) fn fuzz_exchange(client_first: &str, client_final: &str) -> bool {
    static KEYS: std::sync::LazyLock<Option<ScramKeys>> =
        std::sync::LazyLock::new(|| ScramKeys::decode(&scram_keys("fuzzing")));
    let Some(keys) = KEYS.clone() else {
        return false;
    };
    let Ok(first) = ClientFirst::parse(client_first) else {
        return false;
    };
    let (exchange, _) = ScramExchange::start(first, keys, Some("fuzz".to_owned()));
    exchange.finish(client_final).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7677, section 3: user `user`, password `pencil`.
    #[test]
    fn the_rfc_7677_example_is_accepted_and_signed() {
        let keys = ScramKeys::derive_with(
            "pencil",
            BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
            4096,
        );
        let first = ClientFirst::parse("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first.user, "user");
        let exchange = ScramExchange {
            keys,
            account: Some("user".to_owned()),
            client_first: first,
            server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_owned(),
            nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_owned(),
        };
        let server_final = exchange
            .finish("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(
            exchange.finish("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
            Err(ScramError::BadProof)
        );
        assert_eq!(
            exchange.finish("c=biws,r=other,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
            Err(ScramError::Malformed)
        );
    }

    #[test]
    fn keys_survive_their_stored_form_and_bad_forms_are_refused() {
        let keys = ScramKeys::derive("secret");
        assert_eq!(ScramKeys::decode(&keys.encode()), Some(keys));
        assert_eq!(ScramKeys::decode("SCRAM-SHA-256$1:AAAA$AAAA:AAAA"), None);
        assert_eq!(ScramKeys::decode("$argon2id$v=19$..."), None);
    }

    #[test]
    fn client_first_messages_are_checked() {
        assert_eq!(
            ClientFirst::parse("p=tls-unique,,n=user,r=abc"),
            Err(ScramError::Unsupported)
        );
        assert_eq!(
            ClientFirst::parse("n,a=other,n=user,r=abc"),
            Err(ScramError::Unsupported)
        );
        assert_eq!(
            ClientFirst::parse("n,,n=us=2Cer,r=abc").unwrap().user,
            "us,er"
        );
        assert_eq!(
            ClientFirst::parse("n,,n=us=41er,r=abc"),
            Err(ScramError::Malformed)
        );
        assert_eq!(ClientFirst::parse("n,,r=abc"), Err(ScramError::Malformed));
        assert!(ClientFirst::parse("y,a=user,n=user,r=abc").is_ok());
    }
}
