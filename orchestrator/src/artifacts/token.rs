//! Artifact tokens: what the orchestrator puts in a stage task so that its agent can
//! upload the attempt's files and download those of the stages it needs, and nothing
//! else.
//!
//! A token is the scope it grants (run, stage, attempt and the inputs it reads), as
//! hex JSON, and an HMAC-SHA256 of it under the store's key: `<hex scope>.<hex mac>`.
//! It is derived, not stored, so a task re-sent after a restart carries the same one;
//! the HTTP side refuses it once the attempt is settled or the run is over, so a token
//! never outlives its attempt and names no other run or stage.

use bosun_bus::artifacts::ArtifactInput;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Separates these MACs from any other use of the key.
const DOMAIN: &[u8] = b"bosun-artifact-token-v1\0";
/// Longest token accepted (a scope with many inputs stays far below).
const MAX_TOKEN_BYTES: usize = 32 << 10;

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScope {
    /// The run.
    pub run: String,
    /// The stage (a matrix instance by its instance name) whose files it uploads.
    pub stage: String,
    /// The attempt whose files it uploads; the token works while it is in flight.
    pub attempt: u32,
    /// The attempts whose files it reads.
    #[serde(default)]
    pub reads: Vec<ArtifactInput>,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not in the token's form, or too long.
    #[error("the artifact token is malformed")]
    Malformed,
    /// Not signed by this orchestrator's key.
    #[error("the artifact token is not valid")]
    BadSignature,
}

/// The MAC of `scope` under `key` (HMAC takes keys of any length: never `None`).
fn mac(key: &[u8], scope: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(DOMAIN);
    mac.update(scope);
    Some(mac)
}

impl TokenScope {
    /// The token for this scope under `key`.
    pub fn mint(&self, key: &[u8]) -> String {
        let scope = serde_json::to_vec(self).unwrap_or_default();
        match mac(key, &scope) {
            Some(mac) => format!(
                "{}.{}",
                hex::encode(&scope),
                hex::encode(mac.finalize().into_bytes())
            ),
            None => String::new(),
        }
    }

    /// The scope `token` grants, when `key` signed it (compared in constant time).
    pub fn verify(key: &[u8], token: &str) -> Result<TokenScope, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let (scope, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let scope = hex::decode(scope).map_err(|_| TokenError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| TokenError::Malformed)?;
        mac(key, &scope)
            .ok_or(TokenError::BadSignature)?
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        serde_json::from_slice(&scope).map_err(|_| TokenError::Malformed)
    }

    /// Whether it uploads `run/stage/attempt`'s files: only its own.
    pub fn may_upload(&self, run: &str, stage: &str, attempt: u32) -> bool {
        self.run == run && self.stage == stage && self.attempt == attempt
    }

    /// Whether it reads `run/stage/attempt`'s files: only its inputs'.
    pub fn may_read(&self, run: &str, stage: &str, attempt: u32) -> bool {
        self.run == run
            && self
                .reads
                .iter()
                .any(|input| input.stage == stage && input.attempt == attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> TokenScope {
        TokenScope {
            run: "r1".into(),
            stage: "test".into(),
            attempt: 2,
            reads: vec![ArtifactInput {
                stage: "build".into(),
                attempt: 1,
            }],
        }
    }

    #[test]
    fn a_token_grants_its_own_uploads_and_its_inputs_reads_only() {
        let key = [7u8; 32];
        let token = scope().mint(&key);
        let granted = TokenScope::verify(&key, &token).unwrap();
        assert_eq!(granted, scope());
        assert!(granted.may_upload("r1", "test", 2));
        assert!(!granted.may_upload("r1", "test", 1), "another attempt");
        assert!(!granted.may_upload("r1", "build", 1), "another stage");
        assert!(!granted.may_upload("r2", "test", 2), "another run");
        assert!(granted.may_read("r1", "build", 1));
        assert!(!granted.may_read("r1", "build", 2));
        assert!(!granted.may_read("r2", "build", 1));
        assert!(!granted.may_read("r1", "test", 2), "uploads are not reads");
    }

    #[test]
    fn a_changed_scope_or_another_key_is_refused() {
        let key = [7u8; 32];
        let token = scope().mint(&key);
        assert_eq!(
            TokenScope::verify(&[8u8; 32], &token),
            Err(TokenError::BadSignature)
        );
        // Widening the scope (another run) without the key breaks the MAC.
        let (_, tag) = token.split_once('.').unwrap();
        let mut wider = scope();
        wider.run = "r2".into();
        let forged = format!("{}.{tag}", hex::encode(serde_json::to_vec(&wider).unwrap()));
        assert_eq!(
            TokenScope::verify(&key, &forged),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "abc", "zz.zz", &"a".repeat(40 << 10)] {
            assert_eq!(
                TokenScope::verify(&key, bad),
                Err(TokenError::Malformed),
                "{bad:.10}"
            );
        }
        assert_eq!(
            TokenScope::verify(&key, &format!("{}.00", hex::encode(b"{}"))),
            Err(TokenError::BadSignature)
        );
    }
}
