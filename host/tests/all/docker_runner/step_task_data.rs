//! Task data in a command step on the real engine: a hostile branch name and commit
//! message reach the commands verbatim as variables, and nothing in them runs.

use super::steps::{step, step_runner};
use super::*;
use bosun_test_support::assert_contains;

#[tokio::test]
async fn docker_step_sees_a_hostile_branch_and_commit_message_verbatim_and_runs_none_of_it() {
    let Some(env) = docker_or_skip("docker_step_sees_a_hostile_branch_and_commit_message").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let mut ctx = context(dir.path(), &unique("step-data"), Duration::from_secs(120));
    let branch = "x$(touch /tmp/pwned-branch)`touch /tmp/pwned-tick`\";rm -rf hello.txt;#";
    let message = "fix: the cart $(touch /tmp/pwned)\n\n\
        `touch /tmp/pwned-tick` 'single' \"double\" $HOME ${IFS}\n\
        ; rm -rf hello.txt\n\
        EOF\n\
        done";
    ctx.branch = branch.to_string();
    ctx.commit_message = message.to_string();
    let request = step(
        &env.base,
        &[
            "printf 'branch<%s>\\n' \"$BOSUN_BRANCH\"",
            "printf 'message<%s>\\n' \"$BOSUN_COMMIT_MESSAGE\"",
            // Each command is its own file sourced by the script: a variable expanded in
            // a command is data, never parsed again.
            "echo $BOSUN_COMMIT_MESSAGE > /tmp/unquoted",
            "ls /tmp",
            "cat hello.txt",
        ],
    );
    let out = runner.run_step(&ctx, request).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, &format!("branch<{branch}>\n"));
    assert_contains(&out.stdout, &format!("message<{message}>\n"));
    assert_contains(&out.stdout, "hello from the workspace\n");
    // Nothing in the branch or message ran: `/tmp` holds only the command's own file.
    assert_contains(&out.stdout, "+ ls /tmp\nunquoted\n+ cat hello.txt\n");
    assert!(ctx.workspace.join("hello.txt").is_file());
}

#[tokio::test]
async fn docker_step_gets_a_commit_message_past_the_cap_cut_and_still_starts() {
    let Some(env) = docker_or_skip("docker_step_gets_a_commit_message_past_the_cap").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let mut ctx = context(dir.path(), &unique("step-long"), Duration::from_secs(120));
    // 200 KiB: past Linux's 128 KiB limit on one environment string, which would keep
    // the container's shell from starting at all.
    ctx.commit_message = "m".repeat(200 * 1024);
    let request = step(
        &env.base,
        &["printf '%s' \"$BOSUN_COMMIT_MESSAGE\" | wc -c"],
    );
    let out = runner.run_step(&ctx, request).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        &format!("\n{}\n", bosun_bus::types::COMMIT_MESSAGE_MAX_BYTES),
    );
}
