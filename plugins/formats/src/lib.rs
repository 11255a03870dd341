//! Readers for the lint and security tools' own report formats, shared by the built-in plugins.
