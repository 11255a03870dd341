//! Built-in stage plugin `commands`: runs a stage's own `commands` in its `image`.
