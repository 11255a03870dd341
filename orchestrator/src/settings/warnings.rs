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
