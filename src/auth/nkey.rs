//! NKey authentication: the server sends a random nonce in INFO, the client signs the
//! nonce's text with its Ed25519 key and sends its public key (`nkey`) and the signature
//! (`sig`) in CONNECT. Key decoding (base32 with a CRC16 check) and Ed25519 are the `nkeys`
//! crate's, the NATS project's own Rust implementation.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use nkeys::{KeyPair, KeyPairType};
use rand::RngCore;

use crate::limits::{NKEY_NONCE_BYTES, NKEY_SIGNATURE_TEXT_BYTES_MAX};

/// Length of an encoded NKey public key.
const PUBLIC_KEY_CHARS: usize = 56;

/// A fresh nonce for one connection's INFO: random bytes as unpadded base64url, as
/// nats-server's (11 bytes, 15 characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; NKEY_NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks that `key` is a well-formed user public key (`U...`), for the config file.
pub fn check_user_public_key(key: &str) -> Result<(), String> {
    user_key(key).map(|_| ())
}

fn user_key(key: &str) -> Result<KeyPair, String> {
    if key.len() != PUBLIC_KEY_CHARS || !key.starts_with('U') {
        return Err("not a user public key".to_string());
    }
    let pair = KeyPair::from_public_key(key).map_err(|e| e.to_string())?;
    if !matches!(pair.key_pair_type(), KeyPairType::User) {
        return Err("not a user public key".to_string());
    }
    Ok(pair)
}

/// Verifies `sig` (base64url without padding, or standard base64, as nats-server accepts)
/// as `key`'s Ed25519 signature of `nonce`. Oversized input is refused before decoding.
pub fn verify(key: &str, nonce: &[u8], sig: &str) -> Result<(), String> {
    if sig.len() > NKEY_SIGNATURE_TEXT_BYTES_MAX {
        return Err("signature too long".to_string());
    }
    let raw = URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| STANDARD.decode(sig))
        .map_err(|_| "signature is not valid base64".to_string())?;
    let pair = user_key(key)?;
    pair.verify(nonce, &raw)
        .map_err(|_| "signature not verified".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_fifteen_url_safe_characters() {
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 15);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(nonce, new_nonce());
    }

    #[test]
    fn signatures_verify_and_garbage_fails() {
        let user = KeyPair::new_user();
        let key = user.public_key();
        let nonce = b"abcdefghijklmno";
        let sig = user.sign(nonce).unwrap();
        assert_eq!(verify(&key, nonce, &URL_SAFE_NO_PAD.encode(&sig)), Ok(()));
        assert_eq!(verify(&key, nonce, &STANDARD.encode(&sig)), Ok(()));
        assert!(verify(&key, b"other nonce", &URL_SAFE_NO_PAD.encode(&sig)).is_err());
        assert!(verify(&key, nonce, "").is_err());
        assert!(verify(&key, nonce, "!!!").is_err());
        assert!(verify(&key, nonce, &URL_SAFE_NO_PAD.encode(&sig[..63])).is_err());
        assert!(verify(&key, nonce, &"A".repeat(1 << 20)).is_err());
        // Keys: truncated, wrong type, broken checksum, not ASCII.
        let sig_text = URL_SAFE_NO_PAD.encode(&sig);
        assert!(verify(&key[..55], nonce, &sig_text).is_err());
        assert!(verify(&KeyPair::new_account().public_key(), nonce, &sig_text).is_err());
        let mut flipped = key.clone().into_bytes();
        flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
        assert!(verify(std::str::from_utf8(&flipped).unwrap(), nonce, &sig_text).is_err());
        let wide = format!("U{}", "é".repeat(27) + "x");
        assert!(verify(&wide, nonce, &sig_text).is_err());
        assert!(check_user_public_key(&key).is_ok());
        assert!(check_user_public_key("UABC").is_err());
    }
}
