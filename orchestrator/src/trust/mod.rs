//! Who may decide what a run can do: the operator's settings grant, a tenant narrows,
//! a repository's `.bosun.yml` only chooses among what its tenant grants, a pull
//! request gets less than a push, and a fork's pull request runs only as its tenant
//! says. Every rule that turns a trigger and a config into a grant lives here.

mod clone_url;
mod grants;

pub use clone_url::check_clone_url;
pub use grants::{StageGrants, check_plan, grants, withheld_from_pull_request};
