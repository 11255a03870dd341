//! Turns a SARIF artifact URI into a workspace-relative path, and a path into the
//! artifact URI Bosun writes.
//!
//! Producers disagree: ruff and eslint print absolute `file:///…` URIs of the machine
//! that ran them, semgrep and bandit print relative paths against `%SRCROOT%`, trivy
//! names a `ROOTPATH` base. A finding's path must be relative to the workspace either way,
//! so absolute paths lose the first given root or `originalUriBaseIds` base they start
//! with; an absolute path outside all of them is kept as it is.
//!
//! Written URIs are `uri-reference`s: every byte but unreserved characters and `/` is
//! percent-encoded (spaces, `#`, `?`, `%`, non-ASCII), backslashes become `/`.

/// Decodes `%XX` escapes (invalid ones stay as written) and reads the bytes as UTF-8,
/// replacing what is not.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(at + 1).and_then(|b| hex(*b)),
                bytes.get(at + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(high << 4 | low);
            at += 3;
            continue;
        }
        out.push(byte);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A decoded path: `file:` scheme and host gone, backslashes as `/`, and a Windows
/// drive (`/C:/x`) without the slash URIs put before it. Other schemes stay.
pub fn to_path(uri: &str) -> String {
    let decoded = percent_decode(uri).replace('\\', "/");
    let Some(rest) = strip_prefix_ignore_case(&decoded, "file:") else {
        return decoded;
    };
    // `file:///x` and `file://localhost/x` have an (empty or named) authority;
    // `file:/x` has none.
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => match authority_and_path.find('/') {
            Some(slash) => authority_and_path.get(slash..).unwrap_or_default(),
            None => "",
        },
        None => rest,
    };
    let drive = path.as_bytes();
    if drive.len() >= 3 && drive[0] == b'/' && drive[1].is_ascii_alphabetic() && drive[2] == b':' {
        return path.get(1..).unwrap_or_default().to_string();
    }
    path.to_string()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// Whether `path` is absolute on Unix or Windows, or carries a URI scheme.
pub fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// The workspace-relative form of `uri`: relative URIs are already relative to their
/// base (which names the source root) and only lose a leading `./`; absolute ones lose
/// the first of `roots` that is a whole-folder prefix of them.
pub fn workspace_path<'r>(uri: &str, roots: impl IntoIterator<Item = &'r str>) -> String {
    strip_roots(&to_path(uri), roots)
}

/// `workspace_path` for a path already decoded by `to_path`.
pub fn strip_roots<'r>(path: &str, roots: impl IntoIterator<Item = &'r str>) -> String {
    if !is_absolute(path) {
        return trim_dot_slash(path).to_string();
    }
    for root in roots {
        let root = to_path(root);
        let root = root.trim_end_matches('/');
        if root.is_empty() {
            continue;
        }
        if let Some(rest) = path.strip_prefix(root)
            && let Some(relative) = rest.strip_prefix('/')
            && !relative.is_empty()
        {
            return trim_dot_slash(relative).to_string();
        }
    }
    path.to_string()
}

fn trim_dot_slash(mut path: &str) -> &str {
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path
}

/// `path` with every byte percent-encoded except unreserved characters (`A-Z a-z 0-9
/// - . _ ~`), `/` and the bytes in `also`.
pub fn percent_encode(path: &str, also: &[u8]) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) || also.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Where a written result points: a URI relative to the workspace root, or an absolute
/// `file:` URI for a path outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUri {
    /// The encoded URI.
    pub uri: String,
    /// Whether `uri` is relative to the workspace root (SARIF's `%SRCROOT%`).
    pub in_workspace: bool,
}

/// The artifact URI of `path` as a tool saw it: under `workspace` (the folder the tool
/// saw as the workspace, e.g. `/workspace`) or relative, it is relative to the
/// workspace root (the prefix and any `./` dropped); any other absolute path, Unix or
/// Windows, is a `file:` URI of its own.
pub fn artifact_uri(path: &str, workspace: &str) -> ArtifactUri {
    let path = path.replace('\\', "/");
    let workspace = workspace.trim_end_matches('/');
    let relative = path
        .strip_prefix(workspace)
        .filter(|_| !workspace.is_empty())
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(&path);
    let relative = trim_dot_slash(relative);
    let bytes = relative.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if relative.starts_with('/') || drive {
        let slash = if drive { "/" } else { "" };
        return ArtifactUri {
            uri: format!("file://{slash}{}", percent_encode(relative, b":")),
            in_workspace: false,
        };
    }
    ArtifactUri {
        uri: percent_encode(relative, b""),
        in_workspace: true,
    }
}

/// The `file:` URI of the workspace folder itself, ending in `/` as a base URI must.
pub fn folder_uri(workspace: &str) -> String {
    format!(
        "file://{}/",
        percent_encode(workspace.trim_end_matches('/'), b":")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_bad_ones_stay() {
        assert_eq!(percent_decode("docs/my%20file%231.py"), "docs/my file#1.py");
        assert_eq!(percent_decode("src/%C3%A9t%C3%A9.py"), "src/été.py");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(to_path("file:///workspace/app.py"), "/workspace/app.py");
        assert_eq!(to_path("file://localhost/srv/a.py"), "/srv/a.py");
        assert_eq!(to_path("FILE:/srv/a.py"), "/srv/a.py");
        assert_eq!(to_path("file:///C:/work/repo/a.py"), "C:/work/repo/a.py");
        assert_eq!(to_path("src\\win\\a.py"), "src/win/a.py");
        assert_eq!(to_path("https://example.com/x"), "https://example.com/x");
    }

    #[test]
    fn absolute_paths_lose_the_first_matching_root() {
        let roots = ["/workspace", "file:///home/runner/work/shop/"];
        assert_eq!(
            workspace_path("file:///workspace/app/models.py", roots),
            "app/models.py"
        );
        assert_eq!(
            workspace_path("file:///home/runner/work/shop/src/a%20b.js", roots),
            "src/a b.js"
        );
        // A sibling folder that merely shares the prefix is not inside the root.
        assert_eq!(
            workspace_path("/workspace-old/app.py", roots),
            "/workspace-old/app.py"
        );
        assert_eq!(
            workspace_path("file:///C:/ci/repo/src/x.py", ["C:\\ci\\repo"]),
            "src/x.py"
        );
    }

    #[test]
    fn relative_paths_stay_relative() {
        assert_eq!(
            workspace_path("./app/views.py", ["/workspace"]),
            "app/views.py"
        );
        assert_eq!(workspace_path("Dockerfile", []), "Dockerfile");
    }

    #[test]
    fn written_uris_are_encoded_and_relative_to_the_workspace() {
        let uri = |path: &str| {
            let written = artifact_uri(path, "/workspace");
            (written.uri, written.in_workspace)
        };
        assert_eq!(
            uri("/workspace/docs/my file#1.py"),
            ("docs/my%20file%231.py".to_string(), true)
        );
        assert_eq!(
            uri("src\\été\\a.py"),
            ("src/%C3%A9t%C3%A9/a.py".to_string(), true)
        );
        assert_eq!(uri("./lib/100%.js"), ("lib/100%25.js".to_string(), true));
        assert_eq!(uri("docs/my file#1.py").0, "docs/my%20file%231.py");
        assert_eq!(uri("src/é.py").0, "src/%C3%A9.py");
        // Outside the workspace: its own absolute URI, no base.
        assert_eq!(
            uri("/usr/lib/x.py"),
            ("file:///usr/lib/x.py".to_string(), false)
        );
        assert_eq!(
            uri("C:\\ci\\a b.py"),
            ("file:///C:/ci/a%20b.py".to_string(), false)
        );
        // A sibling folder that merely shares the prefix is not the workspace.
        assert!(!uri("/workspace-old/a.py").1);
        assert_eq!(folder_uri("/workspace"), "file:///workspace/");
    }

    #[test]
    fn written_uris_read_back_as_the_same_paths() {
        for path in ["docs/my file#1.py", "src/été/a.py", "lib/100%.js", "a?b.py"] {
            let written = artifact_uri(path, "/workspace");
            assert_eq!(workspace_path(&written.uri, ["/workspace"]), path);
        }
        let outside = artifact_uri("/usr/lib/ä.py", "/workspace");
        assert_eq!(
            workspace_path(&outside.uri, ["/workspace"]),
            "/usr/lib/ä.py"
        );
    }
}
