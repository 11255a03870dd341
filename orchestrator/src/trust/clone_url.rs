//! The clone URL a webhook names: a scheme the operator allows (never `file://`), a
//! host the tenant allows, and a path that is the repository the payload names, so a
//! tenant cannot point a run at another tenant's code or at the orchestrator's disk.

use crate::settings::CloneScheme;

/// A clone URL taken apart: scheme, host (with port, without user) and path.
struct Parts<'a> {
    scheme: CloneScheme,
    host: &'a str,
    path: &'a str,
}

fn parts(url: &str) -> Result<Parts<'_>, String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (CloneScheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (CloneScheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("ssh://") {
        (CloneScheme::Ssh, rest)
    } else if !url.contains("://") && url.contains('@') {
        // scp form: `user@host:owner/name.git`; git takes a `/` before the `:` as a
        // local path, so none may be there.
        let (user_host, path) = url
            .split_once(':')
            .ok_or_else(|| "an ssh clone URL in scp form needs `host:path`".to_string())?;
        if user_host.contains('/') {
            return Err("an scp-form clone URL may not hold '/' before its ':'".to_string());
        }
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        return Ok(Parts {
            scheme: CloneScheme::Ssh,
            host,
            path,
        });
    } else {
        let scheme = url.split_once("://").map_or("none", |(s, _)| s);
        return Err(format!(
            "scheme `{}` is not accepted from webhooks (only https, and ssh or http where the server's `clone_schemes` allow them; file:// only from `bosun run`)",
            scheme.chars().take(16).collect::<String>()
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some(_) if scheme != CloneScheme::Ssh => {
            return Err("credentials in a clone URL are not accepted".to_string());
        }
        Some((_, host)) => host,
        None => authority,
    };
    Ok(Parts { scheme, host, path })
}

fn scheme_name(scheme: CloneScheme) -> &'static str {
    match scheme {
        CloneScheme::Https => "https",
        CloneScheme::Ssh => "ssh",
        CloneScheme::Http => "http",
    }
}

/// Whether a webhook may make a run clone `url` for `repository` (`owner/name`):
/// the scheme is in `schemes`, the host in `hosts` (when the tenant lists any), and
/// the path is `/owner/name` or `/owner/name.git`.
pub fn check_clone_url(
    url: &str,
    repository: &str,
    schemes: &[CloneScheme],
    hosts: &[String],
) -> Result<(), String> {
    let shown: String = url.chars().take(200).collect();
    let refuse = |why: String| Err(format!("clone URL {shown:?} refused: {why}"));
    if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
        return refuse("it is empty, starts with '-' or holds control characters".into());
    }
    let parts = match parts(url) {
        Ok(parts) => parts,
        Err(why) => return refuse(why),
    };
    if !schemes.contains(&parts.scheme) {
        return refuse(format!(
            "the server's `clone_schemes` do not allow {}",
            scheme_name(parts.scheme)
        ));
    }
    let host_ok = !parts.host.is_empty()
        && !parts.host.starts_with('-')
        && parts
            .host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return refuse("its host is not a host name".into());
    }
    let bare_host = parts.host.split(':').next().unwrap_or(parts.host);
    if !hosts.is_empty()
        && !hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(parts.host) || h.eq_ignore_ascii_case(bare_host))
    {
        return refuse(format!(
            "host {} is not in the tenant's `clone_hosts`",
            parts.host
        ));
    }
    if !super::is_repository_name(repository) {
        return refuse(format!("{repository:?} is not an owner/name"));
    }
    let path = parts.path.trim_start_matches('/');
    // No dot segments and no escapes: git and servers resolve them, this compare does not.
    if path.contains('%') || path.split('/').any(|seg| seg == "." || seg == "..") {
        return refuse("its path holds '.', '..' or '%' escapes".into());
    }
    let path = path.strip_suffix(".git").unwrap_or(path);
    if !path.eq_ignore_ascii_case(repository) {
        return refuse(format!(
            "its path is not the repository the payload names ({repository})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPS: &[CloneScheme] = &[CloneScheme::Https];

    #[test]
    fn github_clone_urls_of_the_named_repository_pass() {
        let ok = |url: &str| check_clone_url(url, "acme/shop", HTTPS, &[]);
        assert_eq!(ok("https://github.com/acme/shop.git"), Ok(()));
        assert_eq!(ok("https://github.com/Acme/Shop"), Ok(()));
        let hosts = vec!["github.com".to_string()];
        assert_eq!(
            check_clone_url(
                "https://github.com/acme/shop.git",
                "acme/shop",
                HTTPS,
                &hosts
            ),
            Ok(())
        );
    }

    #[test]
    fn file_urls_and_other_repositories_are_refused_naming_the_rule() {
        let err = |url: &str| check_clone_url(url, "b/shop", HTTPS, &[]).unwrap_err();
        assert!(err("file:///srv/bosun/mirrors/a/shop").contains("file:// only from `bosun run`"));
        assert!(err("/srv/a/shop").contains("not accepted from webhooks"));
        assert!(err("https://github.com/a/shop.git").contains("not the repository"));
        assert!(err("https://github.com/b/shop/../../a/shop").contains("'..'"));
        assert!(err("https://user:pw@github.com/b/shop.git").contains("credentials"));
        assert!(err("ssh://git@github.com/b/shop.git").contains("`clone_schemes`"));
        assert!(err("git@github.com:b/shop.git").contains("`clone_schemes`"));
        assert!(err("http://127.0.0.1:9/b/shop.git").contains("`clone_schemes`"));
        assert!(err("-uhttps://github.com/b/shop").contains("starts with '-'"));
        assert!(err("https://github.com/b/%2e%2e/a/shop").contains("'%'"));
        // A name with dot segments, as an API trigger could give it.
        let dots = check_clone_url("https://h/b/../a/shop", "b/../a/shop", HTTPS, &[]);
        assert!(dots.unwrap_err().contains("not an owner/name"));
        let all = &[CloneScheme::Https, CloneScheme::Ssh];
        let scp = check_clone_url("git@a/b@h:b/shop", "b/shop", all, &[]).unwrap_err();
        assert!(scp.contains("before its ':'"), "{scp}");
    }

    #[test]
    fn ssh_and_http_pass_only_where_the_operator_allows_them() {
        let all = &[CloneScheme::Https, CloneScheme::Ssh, CloneScheme::Http];
        for url in [
            "ssh://git@github.com/b/shop.git",
            "git@github.com:b/shop.git",
            "http://127.0.0.1:8080/b/shop.git",
        ] {
            assert_eq!(check_clone_url(url, "b/shop", all, &[]), Ok(()), "{url}");
        }
    }

    #[test]
    fn a_tenant_may_narrow_the_hosts() {
        let hosts = vec!["git.acme.example".to_string()];
        let err =
            check_clone_url("https://github.com/b/shop.git", "b/shop", HTTPS, &hosts).unwrap_err();
        assert!(err.contains("`clone_hosts`"), "{err}");
        assert_eq!(
            check_clone_url(
                "https://git.acme.example:8443/b/shop",
                "b/shop",
                HTTPS,
                &hosts
            ),
            Ok(())
        );
    }
}
