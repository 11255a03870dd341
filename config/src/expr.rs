//! `${{ … }}` expressions in config text, found once for every user: the matrix fills
//! `${{ matrix.KEY }}`, a concurrency group fills `${{ environment }}` and friends, and
//! whatever `fill` leaves alone (`${{ secrets.NAME }}`) stays for the agent.

/// `text` with each `${{ inner }}` replaced by what `fill` gives for the trimmed
/// `inner`; `Ok(None)` keeps the expression as written. An unterminated `${{` and what
/// follows it are kept as text.
pub(crate) fn fill<E>(
    text: &str,
    mut fill: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let expression = &rest[start..start + len + 2];
        match fill(rest[start + 3..start + len].trim())? {
            Some(value) => out.push_str(&value),
            None => out.push_str(expression),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of the `${{ secrets.NAME }}` references in `text`, in order (the agent
/// resolves them; the orchestrator checks them against the tenant's grants first).
pub fn secret_references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let _ = fill(text, |inner| {
        if let Some(name) = inner.strip_prefix("secrets.") {
            names.push(name.trim().to_string());
        }
        Ok::<_, std::convert::Infallible>(None)
    });
    names
}

#[cfg(test)]
mod tests {
    use super::{fill, secret_references};

    #[test]
    fn secret_references_are_named_in_order() {
        assert_eq!(
            secret_references("a ${{ secrets.KUBE }} ${{ matrix.x }} ${{secrets.B}} ${{ secrets.C"),
            ["KUBE", "B"]
        );
    }

    #[test]
    fn expressions_are_found_trimmed_and_kept_when_not_filled() {
        let filled = fill("a ${{x}} b ${{ y }} c ${{ z", |inner| {
            Ok::<_, ()>((inner == "x").then(|| "1".to_string()))
        });
        assert_eq!(filled.unwrap(), "a 1 b ${{ y }} c ${{ z");
        assert_eq!(
            fill("${{ bad }}", |inner| Err(inner.to_string())),
            Err("bad".into())
        );
    }
}
