//! Turns a SARIF artifact URI into a workspace-relative path.
//!
//! Producers disagree: ruff and eslint print absolute `file:///…` URIs of the machine
//! that ran them, semgrep and bandit print relative paths against `%SRCROOT%`, trivy
//! names a `ROOTPATH` base. A finding's path must be relative to the workspace either way,
//! so absolute paths lose the first given root or `originalUriBaseIds` base they start
//! with; an absolute path outside all of them is kept as it is.

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
}
