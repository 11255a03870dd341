//! What start-up warns about: settings that will not work as the operator probably
//! meant (an unset secret or token, an open API beyond loopback).

use super::ServerSettings;

impl ServerSettings {
    /// A warning when the server answers other machines with no token asked: the API,
    /// the dashboard and manual runs are open to whoever reaches the address.
    pub fn open_listener_warning(&self) -> Option<String> {
        let listen = &self.listen;
        let loopback = match listen.parse::<std::net::SocketAddr>() {
            Ok(address) => address.ip().is_loopback(),
            Err(_) => listen.starts_with("localhost:"),
        };
        (!loopback && !self.api_token_configured()).then(|| {
            format!(
                "listening on {listen} with no api_token: anyone who reaches it can read every run and start runs; set api_token in the settings or listen on 127.0.0.1"
            )
        })
    }

    /// With `cluster:`, what stops the orchestrators from sharing their runs: a SQLite
    /// store (only processes on one machine share its file), the in-memory bus (each
    /// process has its own), a shorter lease than a renewal needs.
    pub fn cluster_warning(&self) -> Option<String> {
        let cluster = self.cluster.as_ref()?;
        if self.bus.starts_with("memory://") {
            return Some("cluster: is set with bus memory://: other orchestrators never see this one's tasks and results; use kafka://".into());
        }
        if matches!(self.store, super::StoreLocation::Sqlite(_)) {
            return Some(format!(
                "cluster: is set with the SQLite store {}: only orchestrators on this machine can share it; use postgres:// for orchestrators on several machines",
                self.store
            ));
        }
        (cluster.lease_ms < 1_000).then(|| {
            format!(
                "cluster.lease_ms is {} ms: a lease is at least 1000 ms (renewed every quarter of it), so 1000 is used",
                cluster.lease_ms
            )
        })
    }

    /// What will not work as the operator probably meant, to say at start-up: a
    /// tenant whose webhook secret is unset (every delivery of it would be refused),
    /// an `api_token` whose variable is unset (every API call is refused), an open API
    /// beyond loopback.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.api_token_configured() && self.api_token.resolve().is_none() {
            warnings.push(
                "api_token is configured but empty or its variable unset: every API call and dashboard page is refused until it is set".to_string(),
            );
        }
        warnings.extend(self.open_listener_warning());
        warnings.extend(self.cluster_warning());
        for tenant in &self.tenants {
            if tenant.webhook_secret.resolve().is_none() {
                // A tenant without any `webhook_secret` takes no webhooks on purpose
                // (its runs come from the API, or from `bosun run`); a configured one
                // that resolves to nothing is the mistake to say.
                let source = match (&tenant.webhook_secret.value, &tenant.webhook_secret.env) {
                    (_, Some(env)) => format!("environment variable {env} is unset or empty"),
                    (Some(_), None) => "its `webhook_secret.value` is empty".to_string(),
                    (None, None) => continue,
                };
                warnings.push(format!(
                    "tenant {}: {source}, so every webhook delivery of it is refused",
                    tenant.owner
                ));
            }
        }
        warnings
    }
}
