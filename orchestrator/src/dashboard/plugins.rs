//! `/plugins`: the plugin inventory. Agents as they last announced themselves, each
//! loaded plugin with the agents that have it, and the plugins attempts actually ran
//! (useful before any agent has announced itself).

use super::DashboardState;
use super::html::{self, Esc, Nav, ago, short_digest, time};
use super::{ok, read};
use crate::service::now_ms;
use crate::store::{AgentRow, PluginUse};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most plugin versions listed from attempts.
const MAX_USED: u32 = 200;

/// What the plugins page shows.
#[derive(Debug, Clone)]
pub struct PluginsView {
    /// Announced agents.
    pub agents: Vec<AgentRow>,
    /// Plugins seen in attempts.
    pub used: Vec<PluginUse>,
}

/// `GET /plugins`
pub async fn show(State(state): State<DashboardState>) -> Response {
    let view = read(&state, |s| {
        Ok(PluginsView {
            agents: s.agents()?,
            used: s.plugins_used(MAX_USED)?,
        })
    });
    match view {
        Ok(view) => ok(render(&view, now_ms())),
        Err(failed) => failed.into_response(),
    }
}

/// Name, version and digest: one exact plugin file.
type PluginFile<'a> = (&'a str, &'a str, &'a str);

fn digest_cell(digest: &str) -> String {
    format!(
        "<span class=\"mono\" title=\"{}\">{}</span>",
        Esc(digest),
        Esc(&short_digest(digest))
    )
}

/// The plugins page.
pub fn render(view: &PluginsView, now_ms: u64) -> String {
    let mut body = String::from("<h1>Plugins</h1><h2>Agents</h2>");
    if view.agents.is_empty() {
        body.push_str(
            "<div class=\"box muted\">No agent has announced its inventory yet. Agents announce \
             themselves on <code>agent.results</code> at start, on reload and as a heartbeat.</div>",
        );
    } else {
        body.push_str(
            "<table id=\"agents\"><tr><th>Agent</th><th>Stages</th><th>Plugins</th>\
             <th>Last seen</th><th>First seen</th></tr>",
        );
        for agent in &view.agents {
            let stages: Vec<String> = agent.stages.iter().map(|s| Esc(s).to_string()).collect();
            let _ = write!(
                body,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td></tr>",
                Esc(&agent.agent_id),
                stages.join(", "),
                agent.plugins.len(),
                time(agent.last_seen_ms),
                ago(agent.last_seen_ms, now_ms),
                time(agent.first_seen_ms),
            );
        }
        body.push_str("</table>");

        // One row per exact plugin file, with every agent that loaded it.
        let mut loaded: BTreeMap<PluginFile<'_>, (&str, &str, Vec<&str>)> = BTreeMap::new();
        for agent in &view.agents {
            for plugin in &agent.plugins {
                let entry = loaded
                    .entry((&plugin.name, &plugin.version, &plugin.digest))
                    .or_insert((&plugin.kind, &plugin.source, Vec::new()));
                entry.2.push(&agent.agent_id);
            }
        }
        body.push_str(
            "<h2>Loaded plugins</h2><table id=\"loaded\"><tr><th>Plugin</th><th>Version</th>\
             <th>Kind</th><th>Digest</th><th>Source</th><th>Agents</th></tr>",
        );
        for ((name, version, digest), (kind, source, agents)) in &loaded {
            let agents: Vec<String> = agents.iter().map(|a| Esc(a).to_string()).collect();
            let _ = write!(
                body,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                Esc(name),
                Esc(version),
                Esc(kind),
                digest_cell(digest),
                Esc(source),
                agents.join(", "),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>Plugins seen in attempts</h2>");
    if view.used.is_empty() {
        body.push_str("<div class=\"box muted\">No attempt has named a plugin yet.</div>");
    } else {
        body.push_str(
            "<table id=\"used\"><tr><th>Plugin</th><th>Version</th><th>Digest</th>\
             <th>Attempts</th><th>Last used</th><th>Agents</th></tr>",
        );
        for plugin in &view.used {
            let agents: Vec<String> = plugin.agents.iter().map(|a| Esc(a).to_string()).collect();
            let _ = write!(
                body,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                Esc(&plugin.name),
                Esc(&plugin.version),
                digest_cell(&plugin.digest),
                plugin.attempts,
                plugin.last_used_ms.map(time).unwrap_or_default(),
                agents.join(", "),
            );
        }
        body.push_str("</table>");
    }
    html::page("Plugins", Nav::Plugins, None, &body)
}
