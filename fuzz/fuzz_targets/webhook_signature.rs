//! Fuzzes `bosun_orchestrator::webhook::verify_signature(secret, header, body)`.
//!
//! Input layout: one length byte and that many secret bytes, one length byte and that
//! many header bytes (`None` when they are not UTF-8), then the body. Besides never
//! panicking, the target checks the function against an HMAC-SHA256 computed here: the
//! correct `sha256=<lowercase hex>` header is always accepted (for a non-empty secret),
//! a header with one digit changed is refused, and a fuzzed header is accepted only when
//! it is the correct one.
#![no_main]

use bosun_orchestrator::webhook::{SignatureError, verify_signature};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

/// Splits a length-prefixed field off `data`; a length past the end takes what is left.
fn field(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&len, rest)) => rest.split_at(usize::from(len).min(rest.len())),
        None => (&[], &[]),
    }
}

fn expected_header(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts keys of any length");
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let (secret, rest) = field(data);
    let (header, body) = field(rest);
    let header = std::str::from_utf8(header).ok();

    let fuzzed = verify_signature(secret, header, body);
    let good = expected_header(secret, body);

    if secret.is_empty() {
        assert_eq!(fuzzed, Err(SignatureError::EmptySecret));
        assert_eq!(
            verify_signature(secret, Some(&good), body),
            Err(SignatureError::EmptySecret)
        );
        return;
    }

    if fuzzed.is_ok() {
        assert_eq!(
            header.map(str::trim),
            Some(good.as_str()),
            "accepted a header that is not the body's HMAC"
        );
    }
    if let Err(error) = &fuzzed {
        let _ = error.to_string();
    }

    assert_eq!(
        verify_signature(secret, Some(&good), body),
        Ok(()),
        "refused the correct signature"
    );

    // Change the last hex digit: still well-formed, but not the MAC.
    let mut wrong = good.clone();
    let last = wrong.pop().unwrap_or('0');
    wrong.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        verify_signature(secret, Some(&wrong), body),
        Err(SignatureError::Mismatch)
    );
});
