//! Command steps: the project's own commands in the image it names, in a private
//! writable copy of the checkout, with a writable `HOME` and `/tmp`, caches and
//! collected reports. This module holds what does not depend on the runner: the
//! request checks, the step's folders on the host, and the script the shell runs.

pub mod cache;
pub mod collect;
pub mod copy;
pub mod services;

use super::containers::{ContainerContext, capped_timeout, check_env_and_network};
use crate::bindings::{ContainerError, StepRequest};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `HOME` of a command step (a private folder on the host).
pub const HOME: &str = "/home/bosun";
/// Where the generated script is mounted, read-only.
pub const SCRIPT_DIR: &str = "/bosun";
/// The script the shell runs.
pub const SCRIPT: &str = "/bosun/step.sh";
/// Where the script records the command it is at (in the step's `/tmp`).
const PROGRESS_FILE: &str = ".bosun-command";
/// The user (and group) id a step runs as when its image names no non-root one.
pub const FALLBACK_UID: u32 = 1000;

/// Most commands, cached paths and collected patterns one step may list.
const MAX_COMMANDS: usize = 200;
const MAX_PATHS: usize = 32;
/// Longest command line (a whole `|` block counts as one).
const MAX_COMMAND_BYTES: usize = 64 << 10;
/// Most bytes of the checkout copied for a step.
pub const CHECKOUT_BUDGET: u64 = 8 << 30;

/// Where the agent's CA bundle is mounted in networked containers.
pub const CA_BUNDLE_PATH: &str = "/etc/bosun/ca-certificates.crt";
/// The variables that point each common tool at the CA bundle.
pub const CA_BUNDLE_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "npm_config_cafile",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
];

/// Refuse steps no runner may execute; normalise paths; cap the timeout.
pub fn check_step(
    context: &ContainerContext,
    mut request: StepRequest,
) -> Result<StepRequest, ContainerError> {
    let denied = |why: String| Err(ContainerError::Denied(why));
    if request.image.trim().is_empty() {
        return denied("the image name is empty".into());
    }
    if request.commands.is_empty() {
        return denied(format!("no commands given for image {}", request.image));
    }
    if request.commands.len() > MAX_COMMANDS {
        return denied(format!(
            "{} commands; a step runs at most {MAX_COMMANDS}",
            request.commands.len()
        ));
    }
    if let Some(index) = request
        .commands
        .iter()
        .position(|c| c.contains('\0') || c.len() > MAX_COMMAND_BYTES || c.trim().is_empty())
    {
        return denied(format!(
            "command {} is empty, longer than {} KiB or contains a NUL byte",
            index + 1,
            MAX_COMMAND_BYTES >> 10
        ));
    }
    if request.cache_paths.len() > MAX_PATHS || request.collect.len() > MAX_PATHS {
        return denied(format!(
            "a step may cache and collect at most {MAX_PATHS} paths each"
        ));
    }
    for path in &request.cache_paths {
        if cache_target(path).is_none() {
            return denied(format!(
                "cache path {path:?} must be under ~/, under /tmp/, or relative to the workspace, without '..'"
            ));
        }
    }
    for pattern in &mut request.collect {
        let trimmed = pattern.trim_start_matches("./").to_string();
        if !relative_without_parents(&trimmed) {
            return denied(format!(
                "report path {pattern:?} must be relative to the workspace, without '..'"
            ));
        }
        *pattern = trimmed;
    }
    check_env_and_network(context, &mut request.env, request.network)?;
    services::check_services(context, &mut request.services, request.network)?;
    request.timeout_ms = capped_timeout(context, request.timeout_ms)?;
    Ok(request)
}

fn relative_without_parents(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path.split('/').all(|part| part != "..")
}

/// Where a cached path lives in the step's folders: `home/…`, `tmp/…` or `workspace/…`.
pub fn cache_target(path: &str) -> Option<PathBuf> {
    let (folder, rest) = if let Some(rest) = path.strip_prefix("~/") {
        ("home", rest)
    } else if let Some(rest) = path.strip_prefix(&format!("{HOME}/")) {
        ("home", rest)
    } else if let Some(rest) = path.strip_prefix("/tmp/") {
        ("tmp", rest)
    } else {
        ("workspace", path.trim_start_matches("./"))
    };
    let rest = rest.trim_end_matches('/');
    relative_without_parents(rest).then(|| Path::new(folder).join(rest))
}

/// A step's folders on the agent host, removed when dropped.
pub struct StepDirs {
    root: tempfile::TempDir,
    /// Read-only mounts the private checkout needs (its git objects live in the mirror).
    pub git_alternates: Vec<PathBuf>,
}

impl StepDirs {
    /// A private copy of `checkout` plus empty `tmp`, `home` and script folders, all
    /// writable by whatever user the image runs as.
    pub fn prepare(scratch: &Path, checkout: &Path) -> Result<StepDirs, String> {
        fs::create_dir_all(scratch)
            .map_err(|e| format!("creating step folder {}: {e}", scratch.display()))?;
        let root = tempfile::Builder::new()
            .prefix("step-")
            .tempdir_in(scratch)
            .map_err(|e| format!("creating a step folder in {}: {e}", scratch.display()))?;
        let dirs = StepDirs {
            root,
            git_alternates: Vec::new(),
        };
        copy::copy_tree(
            checkout,
            &dirs.workspace(),
            copy::Access::OpenToStep,
            CHECKOUT_BUDGET,
        )
        .map_err(|e| format!("copying the checkout for the step: {e}"))?;
        for (dir, mode) in [(dirs.tmp(), 0o1777), (dirs.home(), 0o777)] {
            fs::create_dir_all(&dir)
                .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(mode)))
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        fs::create_dir_all(dirs.script_dir())
            .map_err(|e| format!("creating the script folder: {e}"))?;
        let alternates = dirs.workspace().join(".git/objects/info/alternates");
        let git_alternates = fs::read_to_string(alternates)
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .collect();
        Ok(StepDirs {
            git_alternates,
            ..dirs
        })
    }

    /// The step's own folder, holding all the others.
    pub fn root(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }
    /// The writable checkout, mounted at `/workspace`.
    pub fn workspace(&self) -> PathBuf {
        self.root.path().join("workspace")
    }
    /// Mounted at `/tmp`.
    pub fn tmp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }
    /// Mounted at [`HOME`].
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }
    /// Mounted read-only at [`SCRIPT_DIR`].
    pub fn script_dir(&self) -> PathBuf {
        self.root.path().join("bosun")
    }

    /// Give the step's folders to the user it runs as, so tools that check ownership
    /// (npm's cache, git) treat them as their own. Links are changed, never followed.
    pub fn hand_over(&self, uid: u32, gid: u32) -> Result<(), String> {
        for dir in [self.workspace(), self.tmp(), self.home()] {
            copy::chown_tree(&dir, uid, gid)
                .map_err(|e| format!("handing {} to uid {uid}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// The host folder of a cached path (see [`cache_target`]).
    pub fn cache_folder(&self, path: &str) -> Option<PathBuf> {
        cache_target(path).map(|rel| self.root.path().join(rel))
    }

    /// Write the script for `commands`, and each command in a file of its own.
    pub fn write_script(&self, commands: &[String]) -> Result<(), String> {
        let files = commands
            .iter()
            .enumerate()
            .map(|(index, command)| (format!("{index}.sh"), format!("{command}\n")))
            .chain([("step.sh".to_string(), script(commands))]);
        for (name, text) in files {
            let path = self.script_dir().join(name);
            fs::write(&path, text)
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o644)))
                .map_err(|e| format!("writing the step script: {e}"))?;
        }
        Ok(())
    }

    /// The index of the command the script was running when it stopped.
    pub fn command_reached(&self) -> Option<u32> {
        use std::io::Read;
        let path = self.tmp().join(PROGRESS_FILE);
        // The step owns /tmp: the file may have become a link or a pipe.
        if !fs::symlink_metadata(&path).ok()?.file_type().is_file() {
            return None;
        }
        let mut text = String::new();
        fs::File::open(&path)
            .ok()?
            .take(32)
            .read_to_string(&mut text)
            .ok()?;
        text.trim().parse().ok()
    }

    /// Whether a cached path's folder is still a real folder of the step (no link on
    /// the way), so saving it reads only the step's own files.
    pub fn owns(&self, path: &Path) -> bool {
        copy::real_dir_under(self.root.path(), path)
    }
}

/// The shell script that runs `commands` in order: each is announced (`+ command`) and
/// recorded in the progress file, then sourced from its own file (so one command's
/// syntax cannot run into the next, while `cd` and `export` carry over as in one
/// shell), and `set -e` ends the script at the first that fails, with its status. The
/// commands are the repository's own shell; task data never enters the script (it is
/// in `BOSUN_*` variables).
pub fn script(commands: &[String]) -> String {
    let mut script = String::from("set -e\ncd /workspace\n");
    for (index, command) in commands.iter().enumerate() {
        script.push_str(&format!(
            "printf '%s' {index} > /tmp/{PROGRESS_FILE}\nprintf '+ %s\\n' {}\n. {SCRIPT_DIR}/{index}.sh\n",
            single_quoted(command)
        ));
    }
    script
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
