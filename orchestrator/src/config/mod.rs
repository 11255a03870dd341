//! Pipeline config (`.bosun.yml`): parsing, validation and the resolved plan.
