//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Checks the header against the raw body, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = mac(app_secret);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value a provider would send for this body (tools and tests sign with it).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"dev-app-secret";

    #[test]
    fn right_signature_is_accepted() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign(SECRET, body);
        assert_eq!(verify_signature(SECRET, Some(&header), body), Ok(()));
    }

    #[test]
    fn missing_signature_is_rejected() {
        assert_eq!(
            verify_signature(SECRET, None, b"{}"),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn wrong_signature_is_rejected() {
        let header = sign(b"another-secret", b"{}");
        assert_eq!(
            verify_signature(SECRET, Some(&header), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha256=zz"), b"{}"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(SECRET, Some("md5=00"), b"{}"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn body_altered_by_one_byte_is_rejected() {
        let body = br#"{"object":"whatsapp_business_account"}"#.to_vec();
        let header = sign(SECRET, &body);
        let mut altered = body.clone();
        altered[5] ^= 1;
        assert_eq!(
            verify_signature(SECRET, Some(&header), &altered),
            Err(SignatureError::Mismatch)
        );
    }
}
