//! `bosun run --follow STAGE`: the stage's log (its tools' output and its plugin's log
//! lines) printed as it runs, besides the progress lines. Read from the run store as the
//! live chunks arrive; once an attempt is settled, the rest comes from its result's log,
//! whose lines have the same places, so nothing is printed twice or left out.

use bosun_orchestrator::model::RunRecord;
use bosun_orchestrator::store::{LiveLogState, Store};
use std::collections::{HashMap, HashSet};

/// Most lines read per attempt per look.
const BATCH: usize = 2000;

/// Whether `--follow wanted` names `stage` (itself, or one of its matrix instances).
fn names(wanted: &str, stage: &str) -> bool {
    stage == wanted
        || stage
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The stages followed and how far each attempt's log was printed.
pub struct Follow {
    stages: Vec<String>,
    next: HashMap<(String, u32), u64>,
    done: HashSet<(String, u32)>,
    missing_said: bool,
}

impl Follow {
    /// Follow `stages` (a matrix stage's name follows all its instances).
    pub fn new(stages: Vec<String>) -> Follow {
        Follow {
            stages,
            next: HashMap::new(),
            done: HashSet::new(),
            missing_said: false,
        }
    }

    fn follows(&self, stage: &str) -> bool {
        self.stages.iter().any(|wanted| names(wanted, stage))
    }

    /// Print what the followed stages logged since the last look.
    pub fn print_new(&mut self, store: &Store, run: &RunRecord) -> anyhow::Result<()> {
        if self.stages.is_empty() {
            return Ok(());
        }
        if !self.missing_said && !run.stages.is_empty() {
            self.missing_said = true;
            for wanted in &self.stages {
                if !run.stages.iter().any(|s| names(wanted, &s.name)) {
                    eprintln!("bosun run: --follow {wanted}: this pipeline has no stage {wanted}");
                }
            }
        }
        for stage in &run.stages {
            if !self.follows(&stage.name) || stage.reused_from.is_some() {
                continue;
            }
            for attempt in 1..=stage.attempt {
                let key = (stage.name.clone(), attempt);
                if self.done.contains(&key) {
                    continue;
                }
                let from = self.next.get(&key).copied().unwrap_or(0);
                let lines = match store.live_log_state(&run.id, &stage.name, attempt)? {
                    LiveLogState::Ended => {
                        self.done.insert(key.clone());
                        match store
                            .attempt_logs(&run.id, &stage.name, attempt)?
                            .filter(|l| !l.is_empty())
                        {
                            Some(all) => all
                                .into_iter()
                                .enumerate()
                                .skip(from as usize)
                                .map(|(n, l)| (n as u64, l))
                                .collect(),
                            None => store.live_log_lines(
                                &run.id,
                                &stage.name,
                                attempt,
                                from,
                                usize::MAX,
                            )?,
                        }
                    }
                    _ => store.live_log_lines(&run.id, &stage.name, attempt, from, BATCH)?,
                };
                let prefix = if attempt > 1 {
                    format!("{} #{attempt}", stage.name)
                } else {
                    stage.name.clone()
                };
                let mut expected = from;
                for (index, line) in lines {
                    if index > expected {
                        let skipped = index - expected;
                        eprintln!("  {prefix} │ … {skipped} line(s) not streamed live");
                    }
                    eprintln!("  {prefix} │ {}", line.message);
                    expected = index + 1;
                }
                self.next.insert(key, expected);
            }
        }
        Ok(())
    }
}
