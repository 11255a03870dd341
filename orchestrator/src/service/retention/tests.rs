//! The background pass on both back ends: old runs and the content only they kept go,
//! new runs and shared or recent content stay.

use super::*;
use crate::model::{RunRecord, RunStatus, RunTrigger, StageRecord};
use crate::settings::TenantSettings;
use crate::store::ArtifactRow;
use crate::store::testing::PostgresSchema;
use sha2::{Digest, Sha256};

const NOW: u64 = 400 * DAY_MS;

fn finished(id: &str, created_ms: u64) -> RunRecord {
    RunRecord {
        id: id.into(),
        trigger: RunTrigger {
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            default_branch: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            branch: "main".into(),
            event: "push".into(),
            changed_paths: None,
            pull_request: None,
            sender: "dev".into(),
            message: None,
            fork: false,
        },
        status: RunStatus::Success,
        created_ms,
        finished_ms: Some(created_ms + 1_000),
        config_source: None,
        config_origin: None,
        error: None,
        failures: 0,
        stages: vec![StageRecord::pending("build")],
        denials: vec![],
        warnings: vec![],
        notified: true,
        paths_budget_spent: 0,
        rerun_of: None,
    }
}

/// Write `content` into the artifact folder as the blob store lays it out, aged `age`.
fn blob(settings: &ServerSettings, content: &str, age: Duration) -> String {
    let hex = hex::encode(Sha256::digest(content.as_bytes()));
    let folder = settings.artifacts_dir().join("sha256").join(&hex[..2]);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(&hex);
    std::fs::write(&path, content).unwrap();
    let when = std::time::SystemTime::now() - age;
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(when)
        .unwrap();
    hex
}

fn keep(store: &Store, run_id: &str, hex: &str) {
    store
        .keep_artifact(
            run_id,
            &ArtifactRow {
                stage: "build".into(),
                attempt: 1,
                path: format!("out/{}", &hex[..8]),
                size: 1,
                digest: format!("sha256:{hex}"),
                kept_ms: 1,
            },
        )
        .unwrap();
}

async fn prunes_old_runs_and_content_only_they_kept(store_at: StoreLocation) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServerSettings {
        store: store_at,
        tenants: vec![TenantSettings {
            owner: "Acme".into(),
            retention_days: Some(30),
            ..TenantSettings::default()
        }],
        ..ServerSettings::default()
    };
    settings.artifacts.dir = Some(dir.path().join("artifacts"));
    settings.retention.batch = 2;
    let hour = Duration::from_secs(3600);
    let only_old = blob(&settings, "only the old runs kept this", 2 * hour);
    let shared = blob(&settings, "an old and a new run kept this", 2 * hour);
    let just_written = blob(&settings, "uploaded a moment ago", Duration::ZERO);
    {
        let mut store = Store::open(&settings.store).unwrap();
        store
            .write(|w| {
                for i in 0..5 {
                    w.save_run(&finished(&format!("old-{i}"), NOW - (40 + i) * DAY_MS))?;
                }
                w.save_run(&finished("new", NOW - DAY_MS))
            })
            .unwrap();
        keep(&store, "old-0", &only_old);
        keep(&store, "old-1", &shared);
        keep(&store, "new", &shared);
        keep(&store, "old-4", &just_written);
    }
    let mut retention = Retention::new(&settings);
    assert!(!retention.is_empty());
    let pass = retention.run_once(NOW).await.unwrap();
    assert_eq!(pass.runs, 5, "every old run, two per batch");
    assert_eq!(
        pass.blobs, 1,
        "only the content no run keeps, and old enough"
    );
    let blobs = Blobs::new(settings.artifacts_dir());
    assert!(blobs.find(&only_old).is_none());
    assert!(blobs.find(&shared).is_some(), "the new run still keeps it");
    assert!(
        blobs.find(&just_written).is_some(),
        "too recent to remove yet"
    );

    let store = Store::open(&settings.store).unwrap();
    let left: Vec<String> = store
        .list_runs(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, ["new"]);
    assert_eq!(store.artifacts("new").unwrap().len(), 1);

    // Once it is old enough, the spared content goes on the next pass.
    let path = blobs.find(&just_written).unwrap();
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - 2 * hour)
        .unwrap();
    let again = retention.run_once(NOW).await.unwrap();
    assert_eq!((again.runs, again.blobs), (0, 1));
    assert!(blobs.find(&just_written).is_none());
}

#[tokio::test]
async fn retention_prunes_old_runs_and_content_only_they_kept_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    prunes_old_runs_and_content_only_they_kept(StoreLocation::Sqlite(dir.path().join("runs.db")))
        .await;
}

#[tokio::test]
async fn retention_prunes_old_runs_and_content_only_they_kept_on_postgres() {
    let test = "retention_prunes_old_runs_and_content_only_they_kept_on_postgres";
    let Some(url) = bosun_test_support::service_var(test, "BOSUN_TEST_POSTGRES") else {
        return;
    };
    let schema = match PostgresSchema::create(&url, test) {
        Ok(schema) => schema,
        Err(e) => {
            let why = format!("PostgreSQL at BOSUN_TEST_POSTGRES does not answer ({e})");
            return bosun_test_support::missing_service(test, &why).unwrap_or(());
        }
    };
    prunes_old_runs_and_content_only_they_kept(schema.location().clone()).await;
}

#[test]
fn no_tenant_asking_means_no_task() {
    let settings = ServerSettings::default();
    assert!(Retention::new(&settings).is_empty());
}
