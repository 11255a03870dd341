//! Compiles every fixture plugin to a component and generates one path constant for each
//! (`HOSTILE`, `FORBIDDEN_IMPORT`, ...), the way wasmtime's test-programs artifacts do.

use bosun_wasm_build::{build_components, write_generated};

/// Package, constant name, and what the fixture is for (the constant's doc comment).
const FIXTURES: &[(&str, &str, &str)] = &[
    (
        "bosun-fixture-hostile",
        "HOSTILE",
        "A stage plugin that misbehaves as `with: mode` says: `spin`, `memory`, `recurse`, \
         `panic`, `log-flood`, `stdout-flood`, `huge-report`, `escape`, `write-out`, \
         `sleep`, `container`, `echo`.",
    ),
    (
        "bosun-fixture-forbidden-import",
        "FORBIDDEN_IMPORT",
        "A stage plugin that also imports `fixture:sneaky/secrets@0.1.0`, which the host \
         never grants: loading it must fail.",
    ),
    (
        "bosun-fixture-future-major",
        "FUTURE_MAJOR",
        "A component exporting `bosun:agent/stage-plugin@1.0.0`: loading it must fail for \
         the incompatible major version.",
    ),
    (
        "bosun-fixture-missing-export",
        "MISSING_EXPORT",
        "A component exporting `bosun:agent/stage-plugin@0.2.0` with `info` but no `run`: \
         loading it must fail for the missing export.",
    ),
    (
        "bosun-fixture-not-a-plugin",
        "NOT_A_PLUGIN",
        "A plain WASI command component (exports `wasi:cli/run` only): loading it must \
         fail as not a Bosun plugin.",
    ),
    (
        "bosun-fixture-policy-branch",
        "POLICY_BRANCH",
        "A policy plugin (`production-only-from-default-branch`): denies protected-environment \
         deploys from other branches; `mode=warn` warns instead.",
    ),
    (
        "bosun-fixture-notifier-text",
        "NOTIFIER_TEXT",
        "A notifier plugin (`notifier-text`): formats a run summary as Slack Block Kit JSON.",
    ),
    (
        "bosun-fixture-scripted",
        "SCRIPTED",
        "A stage plugin (`scripted`) whose report follows its config, for orchestrator \
         tests: `outcome`, `fail_attempts`, `tests`, `failing_tests`, `findings`, \
         `coverage`, `error` (a stage-error kind on failing attempts) and `summary`.",
    ),
    (
        "hello-plugin",
        "HELLO_EXAMPLE",
        "The README's custom-plugin walk-through (`examples/hello-plugin`), built the way \
         the README builds it, so the walk-through is tested.",
    ),
];

fn main() {
    let packages: Vec<&str> = FIXTURES.iter().map(|(package, ..)| *package).collect();
    let built = build_components(&packages);
    let mut code = String::new();
    for ((package, wasm), (_, name, doc)) in built.iter().zip(FIXTURES) {
        let path = wasm.display().to_string();
        code.push_str(&format!(
            "/// {doc}\n///\n/// Built from `{package}`.\npub const {name}: &str = {path:?};\n\n"
        ));
    }
    code.push_str("/// Every fixture as `(constant name, path)`, for tests that loop over them.\n");
    code.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for (_, name, _) in FIXTURES {
        code.push_str(&format!("    ({name:?}, {name}),\n"));
    }
    code.push_str("];\n");
    write_generated("fixtures.rs", &code);
}
