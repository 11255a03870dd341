//! The agent worker on the in-memory bus: task in, workspace from git, plugin run,
//! result out, then the ack; bad tasks end in the dead-letter topic.

use crate::common;
use bosun_test_support::{assert_contains, commit_all, git_repo, serve_private_git};

use bosun_bus::messages::{
    self, AgentReply, DeadLetter, MESSAGE_VERSION, ResultMessage, TaskMessage,
};
use bosun_bus::{Bus, DeadLetterRule, MemoryBus, StageFailureKind, topics};
use bosun_host::PluginRegistry;
use bosun_host::agent::workspace::WorkspaceCache;
use bosun_host::agent::{Agent, AgentSettings};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A repository with one commit holding a TODO, and the commit's sha.
fn repo(dir: &Path) -> String {
    git_repo(dir, &[("app.py", "x = 1  # TODO: one\n")]).1
}

fn task_message(url: &str, commit: &str, plugin: &str) -> TaskMessage {
    let mut task = common::task(&[]);
    task.commit = commit.to_string();
    TaskMessage {
        version: MESSAGE_VERSION,
        task,
        plugin: Some(plugin.to_string()),
        clone_url: url.to_string(),
        deadline_unix_ms: 0,
        network_allowed: false,
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        plugin_digest: None,
        artifacts: None,
    }
}

async fn start_agent(bus: Arc<MemoryBus>, work: &Path) -> tokio::sync::watch::Sender<bool> {
    let rt = Arc::new(common::runtime());
    let builtins = bosun_builtins::BUILTINS
        .iter()
        .map(|b| (b.file_name.to_string(), Cow::Borrowed(b.bytes)))
        .collect();
    let registry = PluginRegistry::open(rt, vec![], builtins).await;
    let settings = AgentSettings {
        agent_id: "agent-test".into(),
        stages: vec!["lint".into()],
        concurrency: 2,
        shutdown_grace: Duration::from_secs(5),
        dead_letter: DeadLetterRule::new(2),
        secrets: vec![],
        orchestrator_url: None,
    };
    let agent = Agent::new(
        settings,
        bus,
        registry,
        WorkspaceCache::new(work.to_path_buf()),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { agent.run(stopped).await.unwrap() });
    stop
}

async fn next_payload(sub: &mut Box<dyn bosun_bus::Subscription>) -> Vec<u8> {
    common::next_task_reply(sub).await.record.payload
}

#[tokio::test]
async fn agent_runs_task_from_git_and_publishes_result() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("repo");
    std::fs::create_dir_all(&source).unwrap();
    let commit = repo(&source);
    let url = format!("file://{}", source.display());
    let bus = Arc::new(MemoryBus::new());
    let mut results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let _stop = start_agent(bus.clone(), &dir.path().join("work")).await;

    let message = task_message(&url, &commit, "todo-scan");
    bus.publish(
        &topics::stage_topic("lint"),
        "run-42",
        messages::encode(&message),
    )
    .await
    .unwrap();
    let reply: ResultMessage = messages::decode(&next_payload(&mut results).await).unwrap();
    assert_eq!(reply.agent_id, "agent-test");
    assert_eq!(reply.result.task_id, "run-42/lint/1");
    let report = reply
        .result
        .report
        .unwrap_or_else(|| panic!("{:?}", reply.result.failure));
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].path.as_deref(), Some("app.py"));
    assert!(reply.result.plugin.unwrap().digest.starts_with("sha256:"));

    // A second commit reuses the mirror (fetch) and sees the new file.
    std::fs::write(source.join("more.py"), "# FIXME two\n").unwrap();
    let second = commit_all(&source, "second");
    let mut message = task_message(&url, &second, "todo-scan");
    message.task.attempt = 2;
    bus.publish(
        &topics::stage_topic("lint"),
        "run-42",
        messages::encode(&message),
    )
    .await
    .unwrap();
    let reply: ResultMessage = messages::decode(&next_payload(&mut results).await).unwrap();
    assert_eq!(reply.result.task_id, "run-42/lint/2");
    assert_eq!(reply.result.report.unwrap().findings.len(), 2);
    let leftovers = std::fs::read_dir(dir.path().join("work/tasks"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "task workspaces are removed");
}

#[tokio::test]
async fn agent_reports_missing_plugin_as_a_settled_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(MemoryBus::new());
    let mut results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let _stop = start_agent(bus.clone(), dir.path()).await;
    let message = task_message("file:///nowhere", "abcdef0", "no-such-plugin");
    bus.publish(
        &topics::stage_topic("lint"),
        "run-42",
        messages::encode(&message),
    )
    .await
    .unwrap();
    let reply: ResultMessage = messages::decode(&next_payload(&mut results).await).unwrap();
    let failure = reply.result.failure.unwrap();
    assert_eq!(failure.kind, StageFailureKind::PluginUnavailable);
    assert!(failure.message.contains("no-such-plugin"));
}

#[tokio::test]
async fn agent_stage_replies_are_tagged_and_still_decode_as_result_messages() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(MemoryBus::new());
    let mut results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let _stop = start_agent(bus.clone(), dir.path()).await;
    let message = task_message("file:///nowhere", "abcdef0", "no-such-plugin");
    bus.publish(
        &topics::stage_topic("lint"),
        "run-42",
        messages::encode(&message),
    )
    .await
    .unwrap();
    let delivery = common::next_task_reply(&mut results).await;
    assert_eq!(delivery.record.key, "run-42", "replies are keyed by run id");
    let payload = &delivery.record.payload;
    let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(json["kind"], "stage");
    let plain: ResultMessage = messages::decode(payload).unwrap();
    assert_eq!(plain.result.task_id, "run-42/lint/1");
    let AgentReply::Stage(tagged) = messages::decode::<AgentReply>(payload).unwrap() else {
        panic!("a stage task is answered with a stage reply");
    };
    assert_eq!(tagged, plain);
}

#[tokio::test]
async fn agent_announces_its_stages_and_plugins_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(MemoryBus::new());
    let mut results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let _stop = start_agent(bus.clone(), dir.path()).await;
    let delivery = tokio::time::timeout(Duration::from_secs(60), results.next())
        .await
        .expect("an announcement within a minute")
        .unwrap();
    assert_eq!(delivery.record.key, "agent-test", "keyed by the agent");
    let AgentReply::Inventory(inventory) =
        messages::decode::<AgentReply>(&delivery.record.payload).unwrap()
    else {
        panic!("the first message of an idle agent is its inventory");
    };
    assert_eq!(inventory.agent_id, "agent-test");
    assert_eq!(inventory.stages, vec!["lint".to_string()]);
    let todo = inventory
        .plugins
        .iter()
        .find(|p| p.name == "todo-scan")
        .expect("the built-in todo-scan plugin is announced");
    assert_eq!(todo.kind, "stage");
    assert_eq!(todo.source, "builtin");
    assert!(todo.digest.starts_with("sha256:"), "{}", todo.digest);
    assert!(
        inventory.plugins.iter().any(|p| p.kind == "policy"),
        "policy plugins are announced too"
    );
}

#[tokio::test]
async fn agent_dead_letters_undecodable_and_unfetchable_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(MemoryBus::new());
    let mut dead = bus
        .subscribe("test", &[topics::DEAD_LETTER.to_string()])
        .await
        .unwrap();
    let _stop = start_agent(bus.clone(), dir.path()).await;

    bus.publish(&topics::stage_topic("lint"), "run-x", b"{not json".to_vec())
        .await
        .unwrap();
    let letter: DeadLetter = messages::decode(&next_payload(&mut dead).await).unwrap();
    assert_contains(&letter.reason, "undecodable task");
    assert_eq!(letter.payload, "{not json");

    // The repository does not exist: each delivery fails, the second is the last.
    let message = task_message("file:///does/not/exist", "abcdef0", "todo-scan");
    bus.publish(
        &topics::stage_topic("lint"),
        "run-y",
        messages::encode(&message),
    )
    .await
    .unwrap();
    let letter: DeadLetter = messages::decode(&next_payload(&mut dead).await).unwrap();
    assert_eq!(letter.key, "run-y");
    assert_eq!(letter.deliveries, 2);
    assert_contains(&letter.reason, "git clone");
}

#[tokio::test]
async fn a_private_repository_is_fetched_with_the_agents_token_for_its_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("private");
    std::fs::create_dir_all(&repo).unwrap();
    let commit = self::repo(&repo);
    let url = serve_private_git(&repo, "acme/shop", "ghs_agent-token");
    let cache = |name: &str| {
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        WorkspaceCache::new(root.canonicalize().unwrap())
            .with_clone_tokens(vec![("Acme".into(), "ghs_agent-token".into())])
    };
    // The agent holds acme's token: acme's task checks the commit out.
    let workspace = cache("a")
        .prepare_for("acme", &url, &commit, "run/lint/1")
        .await
        .unwrap();
    assert!(workspace.source.join("app.py").is_file());
    // Another tenant's task naming the same URL gets no token, and no code.
    let err = cache("b")
        .prepare_for("bravo", &url, &commit, "run/lint/1")
        .await
        .err()
        .expect("no token, no clone")
        .to_string();
    assert_contains(&err, "git clone");
    // A wrong token fails naming the repository, never the token.
    let wrong = dir.path().join("c");
    std::fs::create_dir_all(&wrong).unwrap();
    let err = WorkspaceCache::new(wrong.canonicalize().unwrap())
        .with_clone_tokens(vec![("acme".into(), "ghs_wrong-token".into())])
        .prepare_for("acme", &url, &commit, "run/lint/1")
        .await
        .err()
        .expect("a wrong token is refused")
        .to_string();
    assert!(
        err.contains(&url) && !err.contains("ghs_wrong-token"),
        "{err}"
    );
}

/// A runner whose tools run until their run is stopped, then end as killed (137).
struct UntilStopped {
    started: tokio::sync::Notify,
    stopped: tokio::sync::Notify,
    stop_calls: std::sync::Mutex<Vec<String>>,
}

impl bosun_host::ContainerRunner for UntilStopped {
    fn describe(&self) -> String {
        "until-stopped".into()
    }

    fn run<'a>(
        &'a self,
        _context: &'a bosun_host::ContainerContext,
        _request: bosun_host::bindings::ContainerRequest,
    ) -> bosun_host::RunFuture<'a> {
        Box::pin(async move {
            self.started.notify_one();
            self.stopped.notified().await;
            Ok(bosun_host::bindings::ContainerOutput {
                exit_code: 137,
                stdout: "killed".into(),
                stderr: String::new(),
                truncated: false,
                duration_ms: 1,
            })
        })
    }

    fn stop_run<'a>(&'a self, run_id: &'a str) -> bosun_host::StopFuture<'a> {
        Box::pin(async move {
            self.stop_calls.lock().unwrap().push(run_id.to_string());
            self.stopped.notify_one();
            Ok(1)
        })
    }
}

#[tokio::test]
async fn a_cancelled_runs_tool_is_stopped_rather_than_left_to_run_on() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("repo");
    std::fs::create_dir_all(&source).unwrap();
    let commit = repo(&source);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(bosun_test_plugins::HOSTILE, plugins.join("hostile.wasm")).unwrap();
    let runner = Arc::new(UntilStopped {
        started: tokio::sync::Notify::new(),
        stopped: tokio::sync::Notify::new(),
        stop_calls: std::sync::Mutex::new(Vec::new()),
    });
    let rt = Arc::new(common::runtime().with_containers(runner.clone()));
    let registry = PluginRegistry::open(rt, vec![plugins], vec![]).await;
    let bus = Arc::new(MemoryBus::new());
    let mut results = bus
        .subscribe("test", &[topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let agent = Agent::new(
        AgentSettings {
            agent_id: "agent-watch".into(),
            stages: vec!["lint".into()],
            concurrency: 1,
            shutdown_grace: Duration::from_secs(5),
            dead_letter: DeadLetterRule::new(2),
            secrets: vec![],
            orchestrator_url: None,
        },
        bus.clone(),
        registry,
        WorkspaceCache::new(dir.path().join("work")),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { agent.run(stopped).await.unwrap() });

    let mut message = task_message(&format!("file://{}", source.display()), &commit, "hostile");
    message.task.config = vec![
        ("mode".into(), "container".into()),
        ("image".into(), "bosun/base".into()),
        ("argv".into(), "sleep,3600".into()),
    ];
    let run_id = message.task.run_id.clone();
    bus.publish(
        &topics::stage_topic("lint"),
        &run_id,
        messages::encode(&message),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), runner.started.notified())
        .await
        .expect("the tool starts");
    // Another run's end leaves this tool alone; this run's end stops it.
    for finished in ["some-other-run", run_id.as_str()] {
        let event = serde_json::json!({
            "version": 1, "kind": "run.finished", "run_id": finished, "status": "cancelled",
            "at_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
        });
        bus.publish(
            topics::PIPELINE_EVENTS,
            finished,
            serde_json::to_vec(&event).unwrap(),
        )
        .await
        .unwrap();
    }
    let reply: ResultMessage = messages::decode(&next_payload(&mut results).await).unwrap();
    let report = reply
        .result
        .report
        .expect("the plugin reports the killed tool");
    assert!(
        report.summary.starts_with("exit code 137"),
        "{}",
        report.summary
    );
    assert_eq!(*runner.stop_calls.lock().unwrap(), [run_id]);
}
