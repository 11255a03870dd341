//! Checks across stages: unique names, known `needs`, no cycles; then the defaults that
//! depend on other stages (implicit `needs`, `deploy_environment`, rollback).

use super::positions::YamlPath;
use super::reader::{Reader, closest};
use super::stage::{RollbackChoice, StageDraft};
use super::{RollbackSpec, StageSpec};
use std::collections::{HashMap, HashSet};

/// `deploy_environment` as written under `pipeline:`.
pub(crate) struct DeployEnvironment {
    pub(crate) name: String,
    pub(crate) path: YamlPath,
}

/// The stage that `deploy_environment` applies to.
const DEPLOY_STAGE: &str = "deploy";

/// Resolves the drafts (in file order; `None` for entries that could not be read) into
/// stage specs, recording every cross-stage problem.
pub(crate) fn resolve(
    reader: &mut Reader,
    drafts: Vec<Option<StageDraft>>,
    deploy_environment: Option<DeployEnvironment>,
) -> Vec<StageSpec> {
    let drafts = drop_duplicates(reader, drafts);
    let names: Vec<&str> = drafts
        .iter()
        .flatten()
        .map(|d| d.spec.name.as_str())
        .collect();
    let mut needs_of: Vec<Option<Vec<String>>> = Vec::with_capacity(drafts.len());
    let mut previous: Option<&str> = None;
    for draft in &drafts {
        needs_of.push(
            draft
                .as_ref()
                .map(|d| resolve_needs(reader, d, &names, previous)),
        );
        if let Some(d) = draft {
            previous = Some(d.spec.name.as_str());
        }
    }
    let known: Vec<(&StageDraft, Vec<String>)> = drafts
        .iter()
        .zip(needs_of)
        .filter_map(|(d, needs)| Some((d.as_ref()?, needs?)))
        .collect();
    report_cycles(reader, &known);

    let mut specs: Vec<StageSpec> = known
        .iter()
        .map(|(draft, needs)| {
            let mut spec = draft.spec.clone();
            spec.needs = needs.clone();
            spec
        })
        .collect();
    if let Some(env) = deploy_environment {
        apply_deploy_environment(reader, &mut specs, env);
    }
    for (spec, (draft, _)) in specs.iter_mut().zip(&known) {
        spec.rollback = resolve_rollback(spec, &draft.rollback);
    }
    expand_matrices(reader, specs, &known)
}

/// Each `matrix` stage becomes its instances; a stage that needs it needs them all.
fn expand_matrices(
    reader: &mut Reader,
    specs: Vec<StageSpec>,
    known: &[(&StageDraft, Vec<String>)],
) -> Vec<StageSpec> {
    if known.iter().all(|(draft, _)| draft.matrix.is_none()) {
        return specs;
    }
    let mut instances_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut expanded = Vec::with_capacity(specs.len());
    for (spec, (draft, _)) in specs.into_iter().zip(known) {
        match &draft.matrix {
            Some(matrix) => {
                let instances = super::matrix::expand(reader, &spec, matrix);
                instances_of.insert(
                    spec.name.clone(),
                    instances.iter().map(|i| i.name.clone()).collect(),
                );
                expanded.extend(instances);
            }
            None => expanded.push(spec),
        }
    }
    for spec in &mut expanded {
        spec.needs = std::mem::take(&mut spec.needs)
            .into_iter()
            .flat_map(|need| instances_of.get(&need).cloned().unwrap_or(vec![need]))
            .collect();
    }
    let taken: HashSet<&str> = expanded.iter().map(|s| s.name.as_str()).collect();
    if taken.len() < expanded.len() {
        reader.at_value(
            &YamlPath::root(),
            None,
            "a matrix instance has the name of another stage; rename one of them".into(),
            None,
        );
    }
    expanded
}

/// Reports every stage whose name was already taken, and leaves it out.
fn drop_duplicates(
    reader: &mut Reader,
    drafts: Vec<Option<StageDraft>>,
) -> Vec<Option<StageDraft>> {
    let mut first_line: HashMap<String, usize> = HashMap::new();
    drafts
        .into_iter()
        .map(|draft| {
            let draft = draft?;
            let line = reader.positions().value(&draft.name_path).line;
            match first_line.get(&draft.spec.name) {
                Some(first) => {
                    let key = draft.named_by_key.then_some("name");
                    reader.at_value(
                        &draft.name_path,
                        key,
                        format!(
                            "stage '{}' is defined twice (first on line {first})",
                            draft.spec.name
                        ),
                        Some("stage names must be unique; rename one of them".into()),
                    );
                    None
                }
                None => {
                    first_line.insert(draft.spec.name.clone(), line);
                    Some(draft)
                }
            }
        })
        .collect()
}

/// The stage's effective `needs`: as written (checked), or the stage before it.
fn resolve_needs(
    reader: &mut Reader,
    draft: &StageDraft,
    names: &[&str],
    previous: Option<&str>,
) -> Vec<String> {
    let Some(written) = &draft.needs else {
        return previous.map(|p| vec![p.to_string()]).unwrap_or_default();
    };
    let stage = &draft.spec.name;
    let mut needs: Vec<String> = Vec::with_capacity(written.len());
    for (need, at) in written {
        if need == stage {
            reader.at_value(
                at,
                Some("needs"),
                format!("stage '{stage}' needs itself"),
                Some(format!("remove '{stage}' from its own 'needs'")),
            );
        } else if !names.contains(&need.as_str()) {
            let suggestion = closest(need, names.iter().copied().filter(|n| n != stage))
                .map(|near| format!("did you mean '{near}'?"));
            reader.at_value(
                at,
                Some("needs"),
                format!("stage '{stage}' needs '{need}', which is not a stage in this pipeline"),
                suggestion,
            );
        } else if needs.contains(need) {
            reader.at_value(
                at,
                Some("needs"),
                format!("stage '{stage}' lists '{need}' twice in 'needs'"),
                None,
            );
        } else {
            needs.push(need.clone());
        }
    }
    needs
}

/// Reports each cycle in the dependency graph once, as `a -> b -> a` (`x -> y`: x needs y),
/// at the `needs` of the first stage in it that has one.
fn report_cycles(reader: &mut Reader, stages: &[(&StageDraft, Vec<String>)]) {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (d.spec.name.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = stages
        .iter()
        .map(|(_, needs)| {
            needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();

    // Peel off every stage whose needs can all finish; what remains is in a cycle or
    // waits on one.
    let mut done = vec![false; stages.len()];
    let mut progress = true;
    while progress {
        progress = false;
        for (i, stage_deps) in deps.iter().enumerate() {
            let ready = stage_deps
                .iter()
                .all(|d| done.get(*d).copied().unwrap_or(true));
            if let Some(slot) = done.get_mut(i).filter(|slot| !**slot && ready) {
                *slot = true;
                progress = true;
            }
        }
    }

    // Walk from each remaining stage along its remaining needs until a stage repeats.
    let mut explained = done.clone();
    for start in 0..stages.len() {
        if explained.get(start).copied().unwrap_or(true) {
            continue;
        }
        let mut walk: Vec<usize> = Vec::new();
        let mut on_walk: HashSet<usize> = HashSet::new();
        let mut current = start;
        let cycle = loop {
            if on_walk.contains(&current) {
                let from = walk.iter().position(|s| *s == current).unwrap_or(0);
                break walk.get(from..).map(<[usize]>::to_vec);
            }
            if explained.get(current).copied().unwrap_or(true) {
                break None;
            }
            walk.push(current);
            on_walk.insert(current);
            let next = deps
                .get(current)
                .and_then(|ds| ds.iter().find(|d| !done.get(**d).copied().unwrap_or(true)));
            match next {
                Some(next) => current = *next,
                None => break None,
            }
        };
        for stage in &walk {
            if let Some(slot) = explained.get_mut(*stage) {
                *slot = true;
            }
        }
        if let Some(cycle) = cycle {
            report_cycle(reader, stages, &cycle);
        }
    }
}

fn report_cycle(reader: &mut Reader, stages: &[(&StageDraft, Vec<String>)], cycle: &[usize]) {
    // Start the path at the earliest stage in file order that writes `needs`.
    let explicit = |i: &usize| stages.get(*i).is_some_and(|(d, _)| d.needs.is_some());
    let first = cycle
        .iter()
        .filter(|i| explicit(i))
        .min()
        .or_else(|| cycle.iter().min())
        .copied()
        .unwrap_or(0);
    let rotate = cycle.iter().position(|i| *i == first).unwrap_or(0);
    let ordered: Vec<usize> = cycle
        .iter()
        .cycle()
        .skip(rotate)
        .take(cycle.len())
        .copied()
        .collect();
    let name = |i: usize| stages.get(i).map_or("?", |(d, _)| d.spec.name.as_str());

    let mut path: Vec<&str> = ordered.iter().map(|i| name(*i)).collect();
    path.push(name(first));
    let implicit: Vec<String> = ordered
        .iter()
        .zip(ordered.iter().cycle().skip(1))
        .filter(|(from, _)| !explicit(from))
        .map(|(from, to)| {
            format!(
                "'{}' has no 'needs', so it waits for '{}', the stage listed before it",
                name(*from),
                name(*to)
            )
        })
        .collect();
    let mut message = format!(
        "stages wait on each other in a cycle: {}",
        path.join(" -> ")
    );
    if !implicit.is_empty() {
        message.push_str(&format!(" ({})", implicit.join("; ")));
    }
    if let Some((draft, _)) = stages.get(first) {
        reader.at_key(
            &draft.needs_path,
            Some("needs"),
            message,
            Some(
                "remove one of these needs, or give a stage 'needs: []' to start it at once".into(),
            ),
        );
    }
}

fn apply_deploy_environment(reader: &mut Reader, specs: &mut [StageSpec], env: DeployEnvironment) {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    match specs.iter_mut().find(|s| s.name == DEPLOY_STAGE) {
        Some(deploy) => {
            if deploy.environment.is_none() {
                deploy.environment = Some(env.name);
            }
        }
        None => {
            let near = names
                .iter()
                .map(String::as_str)
                .find(|name| name.contains(DEPLOY_STAGE))
                .or_else(|| closest(DEPLOY_STAGE, names.iter().map(String::as_str)));
            reader.at_key(
                &env.path,
                Some("deploy_environment"),
                format!(
                    "pipeline: 'deploy_environment' is set but no stage is named '{DEPLOY_STAGE}'"
                ),
                Some(match near {
                    Some(near) => format!(
                        "rename stage '{near}' to '{DEPLOY_STAGE}', or set 'environment' on it"
                    ),
                    None => "set 'environment' on the stage that deploys instead".into(),
                }),
            );
        }
    }
}

fn resolve_rollback(spec: &StageSpec, choice: &RollbackChoice) -> Option<RollbackSpec> {
    let default = || RollbackSpec {
        plugin: spec.plugin.clone(),
        with: spec
            .with
            .iter()
            .filter(|(key, _)| key != "action")
            .cloned()
            .chain([("action".to_string(), "rollback".to_string())])
            .collect(),
    };
    match choice {
        RollbackChoice::Disabled => None,
        RollbackChoice::Enabled => Some(default()),
        RollbackChoice::Default => {
            (spec.name == DEPLOY_STAGE || spec.environment.is_some()).then(default)
        }
        RollbackChoice::Custom { plugin, with } => {
            let fallback = default();
            Some(RollbackSpec {
                plugin: plugin.clone().unwrap_or(fallback.plugin),
                with: with.clone().unwrap_or(fallback.with),
            })
        }
    }
}
