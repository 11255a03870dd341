//! `X-Hub-Signature-256` verification against GitHub's published test vector and every
//! way a signature can be wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_orchestrator::webhook::{SignatureError, verify_signature};
use bosun_test_support::sign;

const SECRET: &[u8] = b"bosun webhook secret";
const PUSH: &[u8] = include_bytes!("fixtures/github/push-with-new-branch.payload.json");

#[test]
fn signature_github_test_vector_verifies() {
    let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        verify_signature(
            b"It's a Secret to Everybody",
            Some(header),
            b"Hello, World!"
        ),
        Ok(())
    );
    assert_eq!(
        sign(b"It's a Secret to Everybody", b"Hello, World!"),
        header
    );
}

#[test]
fn signature_of_a_fixture_verifies() {
    assert_eq!(
        verify_signature(SECRET, Some(&sign(SECRET, PUSH)), PUSH),
        Ok(())
    );
}

#[test]
fn signature_surrounding_whitespace_is_tolerated() {
    let header = format!("  {}\t", sign(SECRET, PUSH));
    assert_eq!(verify_signature(SECRET, Some(&header), PUSH), Ok(()));
}

#[test]
fn signature_missing_header_refused() {
    let error = verify_signature(SECRET, None, PUSH).unwrap_err();
    assert_eq!(error, SignatureError::MissingHeader);
    assert_eq!(error.to_string(), "missing X-Hub-Signature-256 header");
}

#[test]
fn signature_sha1_scheme_refused() {
    let header = "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6";
    let error = verify_signature(SECRET, Some(header), PUSH).unwrap_err();
    assert_eq!(
        error,
        SignatureError::WrongScheme {
            found: "sha1".to_owned()
        }
    );
    assert!(error.to_string().contains("`sha1`"), "{error}");
}

#[test]
fn signature_unprintable_scheme_not_echoed() {
    let error = verify_signature(SECRET, Some("<b>hi</b>=00"), PUSH).unwrap_err();
    assert_eq!(
        error,
        SignatureError::WrongScheme {
            found: "?".to_owned()
        }
    );
}

#[test]
fn signature_wrong_secret_refused() {
    let header = sign(b"another secret", PUSH);
    assert_eq!(
        verify_signature(SECRET, Some(&header), PUSH),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn signature_reserialised_body_refused() {
    let header = sign(SECRET, PUSH);
    let value: serde_json::Value = serde_json::from_slice(PUSH).unwrap();
    let reserialised = serde_json::to_vec(&value).unwrap();
    assert_ne!(
        reserialised, PUSH,
        "the fixture should not already be compact"
    );
    assert_eq!(
        verify_signature(SECRET, Some(&header), &reserialised),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn signature_one_changed_byte_refused() {
    let header = sign(SECRET, PUSH);
    let mut tampered = PUSH.to_vec();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert_eq!(
        verify_signature(SECRET, Some(&header), &tampered),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn signature_truncated_hex_refused() {
    let header = sign(SECRET, PUSH);
    let truncated = &header[..header.len() - 1];
    assert_eq!(
        verify_signature(SECRET, Some(truncated), PUSH),
        Err(SignatureError::Malformed {
            length: 63,
            detail: ""
        })
    );
    let empty = verify_signature(SECRET, Some("sha256="), PUSH).unwrap_err();
    assert!(matches!(empty, SignatureError::Malformed { length: 0, .. }));
}

#[test]
fn signature_uppercase_hex_refused() {
    let header = sign(SECRET, PUSH);
    let upper = format!("sha256={}", header["sha256=".len()..].to_uppercase());
    let error = verify_signature(SECRET, Some(&upper), PUSH).unwrap_err();
    assert!(matches!(
        error,
        SignatureError::Malformed { length: 64, .. }
    ));
    assert!(error.to_string().contains("uppercase"), "{error}");
}

#[test]
fn signature_non_hex_refused() {
    let header = format!("sha256={}", "z".repeat(64));
    let error = verify_signature(SECRET, Some(&header), PUSH).unwrap_err();
    assert!(matches!(
        error,
        SignatureError::Malformed { length: 64, .. }
    ));
}

#[test]
fn signature_empty_secret_refused() {
    let header = sign(b"", PUSH);
    assert_eq!(
        verify_signature(b"", Some(&header), PUSH),
        Err(SignatureError::EmptySecret)
    );
}

#[test]
fn signature_errors_never_reveal_the_expected_mac() {
    let expected = sign(SECRET, PUSH);
    let expected_hex = &expected["sha256=".len()..];
    let wrong = sign(b"another secret", PUSH);
    let headers = [
        None,
        Some("sha1=00".to_owned()),
        Some(wrong.clone()),
        Some(wrong[..20].to_owned()),
    ];
    for header in headers {
        let error = verify_signature(SECRET, header.as_deref(), PUSH).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(expected_hex), "{shown}");
        assert!(!shown.contains(&expected_hex[..16]), "{shown}");
    }
}
