//! Output folders that hold exactly one run's files. A command writes into a
//! staging folder beside the target and swaps it in only when everything is
//! written, so a failed run leaves no half-written folder and a rerun leaves
//! no file of the run before (a macro `.lib` of an earlier `--storage
//! blackbox`, the image of a layer that no longer exists). A folder that
//! holds something else is refused unless forced.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What a folder holds when cimpool wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An RTL package (`cimpool gen`): `files.f` and `cim_config.toml`.
    Package,
    /// Memory images (`cimpool compress`): `manifest.json`.
    Images,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Package => "an RTL package",
            Kind::Images => "memory images",
        }
    }

    /// Whether `dir` holds an output of this kind.
    pub fn holds(self, dir: &Path) -> bool {
        match self {
            Kind::Package => dir.join("files.f").is_file() && dir.join("cim_config.toml").is_file(),
            Kind::Images => std::fs::read_to_string(dir.join("manifest.json"))
                .is_ok_and(|t| t.contains("\"cimpool-images")),
        }
    }
}

/// A folder being written: files go into `path()`, `commit` puts them in
/// place of the target. Dropped without `commit`, the staging folder goes.
pub struct Staged {
    target: PathBuf,
    staging: PathBuf,
    replaces: bool,
    committed: bool,
}

fn usage(target: &Path, why: impl std::fmt::Display) -> Error {
    Error::Usage(format!("--out {}: {why}", target.display()))
}

/// Checks that `target` can take a new output of `kind` (missing, empty, an
/// earlier output of the same kind, or anything with `force`), and makes
/// the staging folder beside it. Nothing is written there before this.
pub fn stage(target: &Path, kind: Kind, force: bool) -> Result<Staged> {
    let mut replaces = false;
    if target.exists() || target.is_symlink() {
        if !target.is_dir() {
            return Err(usage(
                target,
                "is a file, not a folder: name a folder (it is created if missing)",
            ));
        }
        let empty = std::fs::read_dir(target)
            .map_err(|e| usage(target, e))?
            .next()
            .is_none();
        if !empty {
            if !kind.holds(target) && !force {
                return Err(usage(
                    target,
                    format!(
                        "holds files that are not {} written by cimpool: name another folder, or add --force to replace it",
                        kind.what()
                    ),
                ));
            }
            // Never the folder the user works in, nor one above it.
            let cwd = std::env::current_dir().map_err(|e| usage(target, e))?;
            let canonical = target.canonicalize().map_err(|e| usage(target, e))?;
            if cwd.starts_with(&canonical) {
                return Err(usage(
                    target,
                    "is the current folder or one above it: name a folder of its own",
                ));
            }
            replaces = true;
        }
    }
    let name = target
        .file_name()
        .ok_or_else(|| usage(target, "names no folder"))?
        .to_string_lossy()
        .to_string();
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| write_error(&parent, e))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| write_error(&staging, e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| write_error(&staging, e))?;
    Ok(Staged {
        target: target.to_path_buf(),
        staging,
        replaces,
        committed: false,
    })
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::Failed(format!("cannot write {}: {e}", path.display()))
}

impl Staged {
    /// Where to write the files.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder the files end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Whether an earlier output is being replaced.
    pub fn replaces(&self) -> bool {
        self.replaces
    }

    /// Puts the written folder in place of the target (removing the old one).
    pub fn commit(mut self) -> Result<()> {
        if self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(|e| write_error(&self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target).map_err(|e| write_error(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cimpool-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_rerun_leaves_only_the_new_files() {
        let out = tmp("rerun");
        let s = stage(&out, Kind::Images, false).unwrap();
        std::fs::write(
            s.path().join("manifest.json"),
            "{\"format\": \"cimpool-images-4\"}",
        )
        .unwrap();
        std::fs::write(s.path().join("old_layer.hex"), "0").unwrap();
        s.commit().unwrap();
        let s = stage(&out, Kind::Images, false).unwrap();
        assert!(s.replaces());
        std::fs::write(
            s.path().join("manifest.json"),
            "{\"format\": \"cimpool-images-4\"}",
        )
        .unwrap();
        s.commit().unwrap();
        assert!(!out.join("old_layer.hex").exists());
        assert!(out.join("manifest.json").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn a_failed_run_leaves_nothing_and_foreign_folders_are_refused() {
        let out = tmp("failed");
        {
            let s = stage(&out, Kind::Package, false).unwrap();
            std::fs::write(s.path().join("files.f"), "").unwrap();
        }
        assert!(!out.exists(), "nothing committed, nothing there");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = stage(&out, Kind::Package, false).err().unwrap();
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("--force"), "{e}");
        assert!(stage(&out, Kind::Package, true).is_ok());
        assert!(
            out.join("notes.txt").exists(),
            "staging alone touches nothing"
        );
        let file = out.join("notes.txt");
        let e = stage(&file, Kind::Images, false).err().unwrap();
        assert!(e.to_string().contains("is a file"), "{e}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
