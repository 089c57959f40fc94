//! The client side of SCRAM (RFC 5802) with SHA-256 (RFC 7677) or SHA-512,
//! as Kafka speaks it: no channel binding (`n,,`), no SASLprep (Kafka's
//! Java client sends the password's UTF-8 bytes as they are).
//!
//! Sans-io: [`ScramClient`] turns server messages into client messages.

use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's (and RFC 7677's) minimum iteration count: fewer makes the
/// password cheap to brute-force from a captured exchange, so a server that
/// asks for fewer is refused.
pub(crate) const MIN_ITERATIONS: u32 = 4096;

/// The most iterations accepted. Kafka allows at most 16384; far more than
/// that is a broken or hostile server making the client burn CPU.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash function of the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, String> {
        fn run<M: Mac + hmac::digest::KeyInit>(
            key: &[u8],
            parts: &[&[u8]],
        ) -> Result<Vec<u8>, String> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .map_err(|e| format!("HMAC key: {e}"))?;
            for p in parts {
                mac.update(p);
            }
            Ok(mac.finalize().into_bytes().to_vec())
        }
        match self {
            Hash::Sha256 => run::<Hmac<Sha256>>(key, parts),
            Hash::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            Hash::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// A salted password and what it was computed from.
#[derive(Clone)]
pub(crate) struct Cached {
    hash: Hash,
    salt: Vec<u8>,
    iterations: u32,
    salted: Vec<u8>,
}

/// 24 random bytes, URL-safe base64: printable, no `,`.
pub(crate) fn random_nonce() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the SCRAM nonce: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Where the exchange stands.
enum State {
    /// client-first not yet sent.
    Initial,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for server-final, which must carry this
    /// signature.
    SentFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

/// One SCRAM authentication.
pub(crate) struct ScramClient {
    hash: Hash,
    password: Vec<u8>,
    nonce: String,
    client_first_bare: String,
    state: State,
    cache: Arc<Mutex<Option<Cached>>>,
}

impl ScramClient {
    pub(crate) fn new(
        hash: Hash,
        username: &str,
        password: &str,
        nonce: String,
        cache: Arc<Mutex<Option<Cached>>>,
    ) -> Result<Self, String> {
        if nonce.is_empty()
            || !nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err("the SCRAM nonce must be printable ASCII without ','".to_owned());
        }
        let client_first_bare = format!("n={},r={nonce}", escape_username(username));
        Ok(Self {
            hash,
            password: password.as_bytes().to_vec(),
            nonce,
            client_first_bare,
            state: State::Initial,
            cache,
        })
    }

    /// client-first-message: `n,,n=<user>,r=<nonce>`.
    pub(crate) fn client_first(&mut self) -> Vec<u8> {
        self.state = State::SentFirst;
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Handles a server message: server-first (answered with client-final)
    /// or server-final (`None`: done).
    pub(crate) fn on_server(&mut self, msg: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::SentFirst => self.client_final(msg).map(Some),
            State::SentFinal { server_signature } => {
                self.verify_final(msg, &server_signature)?;
                Ok(None)
            }
            State::Initial | State::Done => {
                Err("the broker sent a SCRAM message when none was expected".to_owned())
            }
        }
    }

    fn client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(msg)
            .map_err(|_| "the broker's SCRAM server-first message is not UTF-8".to_owned())?;
        let first = ServerFirst::parse(server_first)?;
        if !first.nonce.starts_with(&self.nonce) || first.nonce.len() == self.nonce.len() {
            return Err(
                "the broker's SCRAM nonce does not extend this client's (a replayed or forged \
                 exchange?)"
                    .to_owned(),
            );
        }
        if first.iterations < MIN_ITERATIONS {
            return Err(format!(
                "the broker asks for {} SCRAM iterations, fewer than the minimum {MIN_ITERATIONS}",
                first.iterations
            ));
        }
        if first.iterations > MAX_ITERATIONS {
            return Err(format!(
                "the broker asks for {} SCRAM iterations, more than the {MAX_ITERATIONS} this \
                 client accepts",
                first.iterations
            ));
        }

        let salted = self.salted_password(&first.salt, first.iterations);
        let h = self.hash;
        let client_key = h.hmac(&salted, &[b"Client Key"])?;
        let stored_key = h.digest(&client_key);
        // "biws" is base64("n,,"): the GS2 header, without channel binding.
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let client_signature = h.hmac(&stored_key, &auth_message)?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted, &[b"Server Key"])?;
        let server_signature = h.hmac(&server_key, &auth_message)?;
        self.state = State::SentFinal { server_signature };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    fn verify_final(&self, msg: &[u8], expected: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(msg)
            .map_err(|_| "the broker's SCRAM server-final message is not UTF-8".to_owned())?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(server_error(error));
        }
        let verifier = text
            .split(',')
            .find_map(|attr| attr.strip_prefix("v="))
            .ok_or_else(|| "the broker's SCRAM server-final message has no signature".to_owned())?;
        let received = STANDARD
            .decode(verifier)
            .map_err(|_| "the broker's SCRAM server signature is not base64".to_owned())?;
        // Not secret, but compare in constant time anyway.
        let same = received.len() == expected.len()
            && received
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(
                "the broker's SCRAM server signature is wrong: it does not know this user's \
                 password, or something between is impersonating it"
                    .to_owned(),
            );
        }
        Ok(())
    }

    fn salted_password(&self, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cache.as_ref()
            && c.hash == self.hash
            && c.iterations == iterations
            && c.salt == salt
        {
            return c.salted.clone();
        }
        let salted = self.hash.salted_password(&self.password, salt, iterations);
        *cache = Some(Cached {
            hash: self.hash,
            salt: salt.to_vec(),
            iterations,
            salted: salted.clone(),
        });
        salted
    }
}

/// A parsed server-first-message: `r=<nonce>,s=<salt>,i=<iterations>`.
struct ServerFirst {
    nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

impl ServerFirst {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = |what: &str| format!("the broker's SCRAM server-first message {what}");
        if text.starts_with("m=") {
            return Err(bad("demands an extension this client does not know"));
        }
        if let Some(error) = text.strip_prefix("e=") {
            return Err(server_error(error));
        }
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in text.split(',') {
            if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = attr.strip_prefix("s=") {
                salt = Some(v);
            } else if let Some(v) = attr.strip_prefix("i=") {
                iterations = Some(v);
            }
        }
        let nonce = nonce.ok_or_else(|| bad("has no nonce"))?;
        if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(bad("has a nonce that is not printable ASCII"));
        }
        let salt = STANDARD
            .decode(salt.ok_or_else(|| bad("has no salt"))?)
            .map_err(|_| bad("has a salt that is not base64"))?;
        if salt.is_empty() {
            return Err(bad("has an empty salt"));
        }
        let iterations = iterations
            .ok_or_else(|| bad("has no iteration count"))?
            .parse::<u32>()
            .map_err(|_| bad("has an iteration count that is not a number"))?;
        Ok(Self {
            nonce: nonce.to_owned(),
            salt,
            iterations,
        })
    }
}

/// A SCRAM `e=` error (RFC 5802 section 7) as a sentence.
fn server_error(code: &str) -> String {
    let meaning = match code {
        "invalid-proof" => " (wrong password)",
        "unknown-user" => " (no such user)",
        "invalid-username-encoding" | "invalid-encoding" => " (malformed message)",
        _ => "",
    };
    format!("the broker ended the SCRAM exchange with error {code:?}{meaning}")
}

/// RFC 5802's saslname: `=` and `,` escaped.
fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(hash: Hash, user: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient::new(hash, user, password, nonce.to_owned(), Arc::default()).unwrap()
    }

    /// RFC 7677 section 3, byte for byte. Only the server signature differs
    /// from the RFC's text, which prints one that does not follow from the
    /// example's own inputs; this is the value they give (Python's `hmac`
    /// and `hashlib.pbkdf2_hmac` agree).
    #[test]
    fn rfc7677_example() {
        let mut c = client(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = c.on_server(server_first).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let done = c
            .on_server(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(done.is_none());
    }

    #[test]
    fn wrong_server_signature_is_refused() {
        let mut c = client(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        c.client_first();
        c.on_server(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
        let err = c
            .on_server(b"v=AAAATRBi23WpRR/wcyR7flqkf5A/V5lrl9UFUGE9TqQ=")
            .unwrap_err();
        assert!(err.contains("server signature is wrong"), "{err}");
    }

    #[test]
    fn server_first_checks() {
        let first = |msg: &str| {
            let mut c = client(Hash::Sha512, "u", "p", "abc");
            c.client_first();
            c.on_server(msg.as_bytes()).map(|_| ())
        };
        assert!(first("r=abcdef,s=c2FsdA==,i=4096").is_ok());
        let err = first("r=abcdef,s=c2FsdA==,i=4095").unwrap_err();
        assert!(err.contains("fewer than the minimum 4096"), "{err}");
        assert!(
            first("r=abcdef,s=c2FsdA==,i=4000000")
                .unwrap_err()
                .contains("more than")
        );
        assert!(
            first("r=xyzdef,s=c2FsdA==,i=4096")
                .unwrap_err()
                .contains("nonce")
        );
        assert!(
            first("r=abc,s=c2FsdA==,i=4096")
                .unwrap_err()
                .contains("nonce")
        );
        assert!(first("r=abcdef,s=!!,i=4096").unwrap_err().contains("salt"));
        assert!(first("r=abcdef,s=,i=4096").unwrap_err().contains("salt"));
        assert!(
            first("r=abcdef,s=c2FsdA==")
                .unwrap_err()
                .contains("iteration")
        );
        assert!(
            first("m=ext,r=abcdef,s=c2FsdA==,i=4096")
                .unwrap_err()
                .contains("extension")
        );
        assert!(
            first("e=unknown-user")
                .unwrap_err()
                .contains("unknown-user")
        );
    }

    #[test]
    fn usernames_are_escaped_and_nonces_checked() {
        let mut c = client(Hash::Sha256, "a=b,c", "p", "n");
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=n");
        assert!(ScramClient::new(Hash::Sha256, "u", "p", "a,b".into(), Arc::default()).is_err());
        assert!(ScramClient::new(Hash::Sha256, "u", "p", String::new(), Arc::default()).is_err());
        let n = random_nonce().unwrap();
        assert_eq!(n.len(), 32);
        assert!(ScramClient::new(Hash::Sha256, "u", "p", n, Arc::default()).is_ok());
    }

    #[test]
    fn salted_password_is_cached() {
        let cache: Arc<Mutex<Option<Cached>>> = Arc::default();
        let mut c = ScramClient::new(Hash::Sha256, "u", "p", "abc".into(), cache.clone()).unwrap();
        c.client_first();
        c.on_server(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        let cached = cache.lock().unwrap().clone().unwrap();
        assert_eq!(cached.iterations, 4096);
        assert_eq!(cached.salt, b"salt");
    }
}
