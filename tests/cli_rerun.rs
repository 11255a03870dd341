//! `bosun run --rerun-failed` end to end: the real binary, the embedded default, the
//! process runner and a drop-in plugin (the `hostile` fixture in its `container` and
//! `echo` modes), on a tiny repository whose test stage needs a tool outside it.
//!
//! The first run fails at test: the tool is not there. The test then installs the tool
//! (outside the repository, like a runner image fixed or a flaky service back) and
//! also edits the working tree; `--rerun-failed` reuses lint and build, runs test and
//! what needs it again with the first run's plugin digest, at the first run's
//! snapshot and with its config: the edits are not seen, by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn pipeline(probe: &Path) -> String {
    format!(
        "pipeline:
  stages:
    - name: lint
      plugin: hostile
      agent: lint
      with: {{ mode: echo }}
    - name: build
      plugin: hostile
      agent: lint
      needs: [lint]
      with: {{ mode: echo }}
    - name: test
      plugin: hostile
      agent: lint
      needs: [build]
      with: {{ mode: container, image: local, argv: {} }}
    - name: package
      plugin: hostile
      agent: lint
      needs: [test]
      with: {{ mode: echo }}
",
        probe.display()
    )
}

/// `bosun run DIR --json` with the process runner and the fixture plugins: exit
/// code, the printed run, stderr.
fn bosun_run(dir: &Path, plugins: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(dir)
        .args(["--containers", "process", "--json", "--plugins"])
        .arg(plugins)
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let printed = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), printed, stderr)
}

fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["run"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {run:#}"))
}

fn last_attempt<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|a| a["stage"] == name)
        .unwrap_or_else(|| panic!("no attempt of {name}: {run:#}"))
}

#[test]
fn rerun_failed_reuses_what_passed_and_repeats_the_last_run_exactly() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("app");
    let plugins = temp.path().join("plugins");
    let outside = temp.path().join("outside");
    for dir in [&repo, &plugins, &outside] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(bosun_test_plugins::HOSTILE, plugins.join("hostile.wasm")).unwrap();
    let probe = outside.join("probe");
    let config = pipeline(&probe);
    std::fs::write(repo.join(".bosun.yml"), &config).unwrap();
    std::fs::write(repo.join("app.py"), "print('one')\n").unwrap();

    // Nothing recorded yet: nothing to re-run.
    let (code, _, stderr) = bosun_run(&repo, &plugins, &["--rerun-failed"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no earlier run"), "{stderr}");

    let (code, first, stderr) = bosun_run(&repo, &plugins, &[]);
    assert_eq!(code, Some(1), "the tool is missing: {stderr}\n{first:#}");
    assert_eq!(stage(&first, "test")["state"], "errored", "{first:#}");
    assert!(
        last_attempt(&first, "test")["failure_message"]
            .as_str()
            .unwrap()
            .contains("not installed"),
        "{first:#}"
    );
    assert_eq!(stage(&first, "package")["state"], "skipped");
    let first_id = first["run"]["id"].as_str().unwrap();
    let digest = last_attempt(&first, "test")["plugin_digest"].clone();
    assert!(digest.as_str().unwrap().starts_with("sha256:"), "{first:#}");

    // The flake goes away outside the repository; the working tree moves on too.
    std::fs::write(&probe, "#!/bin/sh\necho probe ready\n").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(repo.join(".bosun.yml"), format!("{config}    - name: extra\n      plugin: hostile\n      agent: lint\n      with: {{ mode: echo }}\n")).unwrap();
    std::fs::write(repo.join("app.py"), "print('two')\n").unwrap();

    let (code, second, stderr) = bosun_run(&repo, &plugins, &["--rerun-failed"]);
    assert_eq!(code, Some(0), "{stderr}\n{second:#}");
    let run = &second["run"];
    assert_ne!(run["id"], first["run"]["id"]);
    assert_eq!(run["status"], "success");
    assert_eq!(run["rerun_of"]["run_id"], first_id);
    // Exactly the first run: its snapshot commit, trigger and config, not the edits.
    assert_eq!(run["trigger"], first["run"]["trigger"]);
    assert_eq!(run["config_source"].as_str(), Some(config.as_str()));
    let names: Vec<&str> = run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lint", "build", "test", "package"]);
    for name in ["lint", "build"] {
        assert_eq!(stage(&second, name)["reused_from"], first_id, "{second:#}");
        assert_eq!(last_attempt(&second, name)["reused_from"], first_id);
    }
    for name in ["test", "package"] {
        assert_eq!(stage(&second, name)["state"], "success", "{second:#}");
        assert!(stage(&second, name).get("reused_from").is_none());
    }
    let test = last_attempt(&second, "test");
    assert_eq!(test["plugin_digest"], digest, "run with the pinned plugin");
    assert!(
        test["report"]["summary"]
            .as_str()
            .unwrap()
            .contains("probe ready"),
        "{test:#}"
    );
    // The pin is in the run, and the agent was asked for exactly that digest.
    assert_eq!(run["rerun_of"]["pins"][0]["plugin"]["digest"], digest);
    let dispatched = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stage.dispatched" && e["stage"] == "test")
        .unwrap_or_else(|| panic!("{second:#}"));
    assert_eq!(dispatched["data"]["plugin_digest"], digest);

    // Nothing failed in the last run now: nothing to re-run.
    let (code, _, stderr) = bosun_run(&repo, &plugins, &["--rerun-failed"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("nothing to re-run"), "{stderr}");
}
