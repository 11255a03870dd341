//! Image references: `<registry>/<repository>:<commit>` and `:<branch>`, with the branch
//! made a valid Docker tag by `bosun_git::refs::branch_tag`, as the host's image builder
//! makes it.

use bosun_git::refs::branch_tag;

/// The references a build tags and pushes, commit first.
pub fn references(registry: &str, repository: &str, commit: &str, branch: &str) -> Vec<String> {
    let base = format!("{registry}/{repository}");
    vec![
        format!("{base}:{commit}"),
        format!("{base}:{}", branch_tag(branch)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_carry_commit_then_branch() {
        assert_eq!(
            references("127.0.0.1:5000", "acme/app", "0123abc", "feature/login"),
            [
                "127.0.0.1:5000/acme/app:0123abc",
                "127.0.0.1:5000/acme/app:feature-login"
            ]
        );
    }
}
