//! Policy gates and notifications: evaluate a request's policies in order, each in its
//! own store with the tenant's settings, failing closed; and format a run summary with
//! a notifier plugin. Both always produce a reply: the orchestrator records every
//! denial and every formatting error.

use super::{Agent, now_unix_ms};
use crate::convert::{decision_from_wit, policy_input_to_wit, run_summary_to_wit};
use crate::inspect::PluginKind;
use bosun_bus::PluginId;
use bosun_bus::messages::MESSAGE_VERSION;
use bosun_bus::notify::{NotifyReplyMessage, NotifyTaskMessage};
use bosun_bus::policy::{
    Decision, PolicyRef, PolicyReplyMessage, PolicyTaskMessage, PolicyVerdict,
};
use std::time::Duration;
use tracing::Instrument;

/// Largest notification body relayed. It travels in one bus message (Kafka refuses
/// records over 1 MB by default) and a cut JSON body is useless, so a larger one is an
/// error naming the notifier.
pub const MAX_NOTIFICATION_BYTES: usize = 512 << 10;

/// Time left before an absolute deadline in ms since the epoch (0: none); zero once past.
fn time_left(deadline_unix_ms: u64) -> Option<Duration> {
    (deadline_unix_ms != 0)
        .then(|| Duration::from_millis(deadline_unix_ms.saturating_sub(now_unix_ms())))
}

fn past(deadline_unix_ms: u64) -> bool {
    time_left(deadline_unix_ms).is_some_and(|left| left.is_zero())
}

/// Run `work` within the deadline; `None` when the deadline passed first.
async fn within<F: Future>(deadline_unix_ms: u64, work: F) -> Option<F::Output> {
    match time_left(deadline_unix_ms) {
        None => Some(work.await),
        // Dropping a plugin call part-way is safe: its store goes with it.
        Some(left) => tokio::time::timeout(left, work).await.ok(),
    }
}

impl Agent {
    /// Evaluate every policy of `request`, in request order.
    pub(super) async fn evaluate_policies(
        &self,
        request: &PolicyTaskMessage,
    ) -> PolicyReplyMessage {
        let mut verdicts = Vec::with_capacity(request.policies.len());
        for policy in &request.policies {
            let span = tracing::info_span!(
                "policy",
                run_id = %request.input.run_id,
                request_id = %request.request_id,
                stage = %request.input.stage,
                phase = request.input.phase.as_str(),
                policy = %policy.plugin,
            );
            let (verdict, by_plugin) = self.evaluate_policy(request, policy).instrument(span).await;
            self.metrics.count_verdict(&verdict.decision, by_plugin);
            verdicts.push(verdict);
        }
        PolicyReplyMessage {
            version: MESSAGE_VERSION,
            agent_id: self.settings.agent_id.clone(),
            request_id: request.request_id.clone(),
            run_id: request.input.run_id.clone(),
            verdicts,
        }
    }

    /// One policy's verdict, and whether the plugin decided it (false: the host denied
    /// because the policy could not be evaluated).
    async fn evaluate_policy(
        &self,
        request: &PolicyTaskMessage,
        policy: &PolicyRef,
    ) -> (PolicyVerdict, bool) {
        let name = &policy.plugin;
        let fail_closed = |digest: Option<String>, why: String| {
            tracing::warn!(reason = %why, "policy could not be evaluated: denying");
            let verdict = PolicyVerdict {
                policy: name.clone(),
                digest,
                decision: Decision::Deny(vec![format!("{why}; gates fail closed")]),
            };
            (verdict, false)
        };
        let Some(plugin) = self.registry.get(name) else {
            return fail_closed(
                None,
                format!(
                    "policy {name} is not installed on agent {}",
                    self.settings.agent_id
                ),
            );
        };
        if plugin.kind != PluginKind::Policy {
            return fail_closed(
                None,
                format!(
                    "plugin {name} is a {} plugin, not a policy plugin",
                    plugin.kind
                ),
            );
        }
        if past(request.deadline_unix_ms) {
            return fail_closed(
                None,
                format!(
                    "request {} reached its deadline before policy {name} was evaluated",
                    request.request_id
                ),
            );
        }
        let runtime = self.registry.runtime();
        let input = policy_input_to_wit(&request.input, &policy.config);
        let digest = Some(plugin.id.digest.clone());
        match within(
            request.deadline_unix_ms,
            runtime.evaluate_policy(&plugin, &input),
        )
        .await
        {
            None => fail_closed(
                digest,
                format!(
                    "request {} reached its deadline while policy {name} was evaluated",
                    request.request_id
                ),
            ),
            Some(Err(failure)) => fail_closed(
                digest,
                format!("policy {name} could not be evaluated: {}", failure.message),
            ),
            Some(Ok(decision)) => {
                let caps = &runtime.engine().settings.limits.report;
                let verdict = PolicyVerdict {
                    policy: name.clone(),
                    digest,
                    decision: decision_from_wit(decision, caps),
                };
                (verdict, true)
            }
        }
    }

    /// Format `request`'s run summary with its notifier.
    pub(super) async fn format_notification(
        &self,
        request: &NotifyTaskMessage,
    ) -> NotifyReplyMessage {
        let span = tracing::info_span!(
            "notify",
            run_id = %request.summary.run_id,
            request_id = %request.request_id,
            notifier = %request.notifier,
        );
        let (notifier, formatted) = self.run_notifier(request).instrument(span).await;
        self.metrics.count_notification(formatted.is_ok());
        let (body, error) = match formatted {
            Ok(body) => (Some(body), None),
            Err(error) => {
                tracing::warn!(%error, request_id = %request.request_id, "notification not formatted");
                (None, Some(error))
            }
        };
        NotifyReplyMessage {
            version: MESSAGE_VERSION,
            agent_id: self.settings.agent_id.clone(),
            request_id: request.request_id.clone(),
            run_id: request.summary.run_id.clone(),
            notifier,
            body,
            error,
        }
    }

    /// The notifier that ran (if one did) and its body, or an error naming it.
    async fn run_notifier(
        &self,
        request: &NotifyTaskMessage,
    ) -> (Option<PluginId>, Result<String, String>) {
        let name = &request.notifier;
        let Some(plugin) = self.registry.get(name) else {
            return (
                None,
                Err(format!(
                    "agent {} has no notifier plugin named {name}",
                    self.settings.agent_id
                )),
            );
        };
        if plugin.kind != PluginKind::Notifier {
            return (
                None,
                Err(format!(
                    "plugin {name} is a {} plugin, not a notifier plugin",
                    plugin.kind
                )),
            );
        }
        if past(request.deadline_unix_ms) {
            return (
                None,
                Err(format!(
                    "request {} reached its deadline before notifier {name} ran",
                    request.request_id
                )),
            );
        }
        if !request.config.is_empty() {
            // The notifier-plugin `format` export takes the summary alone.
            tracing::debug!(
                settings = request.config.len(),
                "notifier settings not passed: the notifier interface takes none"
            );
        }
        let summary = run_summary_to_wit(&request.summary);
        let id = Some(plugin.id.clone());
        let formatted = within(
            request.deadline_unix_ms,
            self.registry
                .runtime()
                .format_notification(&plugin, &summary),
        )
        .await;
        let outcome = match formatted {
            None => Err(format!(
                "request {} reached its deadline while notifier {name} ran",
                request.request_id
            )),
            // The runtime's messages name the plugin.
            Some(Err(failure)) => Err(failure.message),
            Some(Ok(body)) if body.len() > MAX_NOTIFICATION_BYTES => Err(format!(
                "notifier {name} returned a {}-byte message; the limit is {MAX_NOTIFICATION_BYTES} bytes",
                body.len()
            )),
            Some(Ok(body)) => Ok(body),
        };
        (id, outcome)
    }
}
