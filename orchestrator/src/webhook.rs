//! GitHub webhooks: signature verification and event parsing.
