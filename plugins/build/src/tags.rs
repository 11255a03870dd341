//! Image references: `<registry>/<repository>:<commit>` and `:<branch>`, with the branch
//! made a valid Docker tag the same way the host's image builder does it.

/// A Docker tag from a branch name: `[A-Za-z0-9_.-]`, at most 128 characters, not
/// starting with `.` or `-` (`feature/login` → `feature-login`).
pub fn branch_tag(branch: &str) -> String {
    let tag: String = branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    let tag = tag.trim_start_matches(['.', '-']);
    if tag.is_empty() {
        "branch".to_string()
    } else {
        tag.to_string()
    }
}

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
    fn branches_become_valid_tags() {
        assert_eq!(branch_tag("main"), "main");
        assert_eq!(branch_tag("feature/login"), "feature-login");
        assert_eq!(branch_tag("release/1.2"), "release-1.2");
        assert_eq!(
            branch_tag("zzz\";echo${IFS}\"hi\";#"),
            "zzz--echo--IFS--hi---"
        );
        assert_eq!(branch_tag("..."), "branch");
        assert_eq!(branch_tag("-x"), "x");
        assert_eq!(branch_tag(&"a".repeat(300)).len(), 128);
    }

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
