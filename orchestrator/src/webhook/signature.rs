//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the raw body, compared in
//! constant time before anything parses the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header GitHub signs deliveries with.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const SCHEME_PREFIX: &str = "sha256=";
/// Hex digits in a SHA-256 MAC.
const DIGEST_HEX_LEN: usize = 64;
/// Longest scheme echoed back in an error; anything longer or odd is not repeated.
const MAX_ECHOED_SCHEME: usize = 16;

/// Why a delivery's signature was refused. Every message is safe to send back in a 401
/// body: none of them contains the expected MAC or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The server has no secret to check against; accepting would let anyone sign.
    #[error("the webhook secret is empty, so no delivery can be verified")]
    EmptySecret,
    /// The delivery carries no `X-Hub-Signature-256` header.
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingHeader,
    /// The header names another scheme, e.g. the legacy `sha1=`.
    #[error("{SIGNATURE_HEADER} uses scheme `{found}`, expected `sha256=`")]
    WrongScheme {
        /// The scheme found, or `?` when it is too long or odd to repeat.
        found: String,
    },
    /// The value after `sha256=` is not 64 lowercase hex digits.
    #[error(
        "{SIGNATURE_HEADER} must be `sha256=` followed by 64 lowercase hex digits, found {length} characters{detail}"
    )]
    Malformed {
        /// How many characters follow `sha256=`.
        length: usize,
        /// Extra explanation, e.g. that uppercase digits are refused.
        detail: &'static str,
    },
    /// Well-formed, but not the MAC of this body under the configured secret.
    #[error("{SIGNATURE_HEADER} does not match the payload")]
    Mismatch,
}

/// Checks that `header` (the value of `X-Hub-Signature-256`, if any) is the HMAC-SHA256
/// of `body` under `secret`.
///
/// Only lowercase hex is accepted, as GitHub sends it: one spelling per MAC keeps the
/// check strict and the error plain. The comparison is constant-time.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    let header = header.ok_or(SignatureError::MissingHeader)?.trim();
    let expected = decode_header(header)?;
    // HMAC takes keys of any length, so this never fails; map it anyway rather than unwrap.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::EmptySecret)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Splits off `sha256=` and decodes the digest, refusing anything but 64 lowercase hex
/// digits.
fn decode_header(header: &str) -> Result<Vec<u8>, SignatureError> {
    let Some(digest) = header.strip_prefix(SCHEME_PREFIX) else {
        return Err(SignatureError::WrongScheme {
            found: echoable_scheme(header),
        });
    };
    let length = digest.chars().count();
    if length != DIGEST_HEX_LEN {
        return Err(SignatureError::Malformed { length, detail: "" });
    }
    if digest.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(SignatureError::Malformed {
            length,
            detail: " (uppercase hex is refused)",
        });
    }
    hex::decode(digest).map_err(|_| SignatureError::Malformed {
        length,
        detail: " (not hex)",
    })
}

/// The part of a header before `=`, when it is short and alphanumeric enough to repeat
/// in a response without echoing arbitrary input.
fn echoable_scheme(header: &str) -> String {
    let scheme = header.split_once('=').map_or(header, |(scheme, _)| scheme);
    let plain = !scheme.is_empty()
        && scheme.len() <= MAX_ECHOED_SCHEME
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain {
        scheme.to_owned()
    } else {
        "?".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_echoed_only_when_plain() {
        assert_eq!(echoable_scheme("sha1=abc"), "sha1");
        assert_eq!(echoable_scheme("<script>=x"), "?");
        assert_eq!(echoable_scheme(&"a".repeat(40)), "?");
        assert_eq!(echoable_scheme(""), "?");
    }

    #[test]
    fn empty_secret_is_refused_even_with_a_matching_mac() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"").unwrap();
        mac.update(b"{}");
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_signature(b"", Some(&header), b"{}"),
            Err(SignatureError::EmptySecret)
        );
    }
}
