//! Where things are: the repository root, the installed third-party peers and their interpreters.
//!
//! The peer scripts are run from the peers folder (Node resolves the SDK relative to the script), so the
//! repository's `peers/` scripts are copied over stale copies once per test process: editing a client script
//! takes effect without rerunning setup.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root (the folder holding `Cargo.lock` and `peers/`).
pub fn repo_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest
            .ancestors()
            .find(|dir| dir.join("Cargo.lock").is_file() && dir.join("crates").is_dir())
            .unwrap_or_else(|| panic!("no workspace root above {}", manifest.display()))
            .to_path_buf()
    })
    .clone()
}

/// The folder `peers/setup.sh` filled: `$TOOLGATE_PEERS`, or `<repo>/.peers`.
///
/// # Panics
/// When the peers are not installed, with the command that installs them.
pub fn peers_dir() -> PathBuf {
    static PEERS: OnceLock<PathBuf> = OnceLock::new();
    PEERS
        .get_or_init(|| {
            let dir = std::env::var_os("TOOLGATE_PEERS")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join(".peers"));
            let installed = dir.join("venv/bin/python").is_file()
                && dir.join("node_modules/@modelcontextprotocol/sdk").is_dir();
            assert!(
                installed,
                "third-party peers are not installed: run `bash peers/setup.sh` (looked in {})",
                dir.display()
            );
            refresh_scripts(&repo_root().join("peers"), &dir);
            dir
        })
        .clone()
}

/// The peers' Python interpreter (a venv with the official `mcp` SDK and `fastmcp`).
pub fn python_bin() -> PathBuf {
    peers_dir().join("venv/bin/python")
}

/// Node 22, for the conformance CLI (the system `node` runs everything else).
pub fn node22_bin() -> PathBuf {
    peers_dir().join("node22/node_modules/.bin/node")
}

/// Copies `peers/*.{py,mjs,cjs}` into the peers folder where they differ. The copy goes through a temporary
/// file and a rename, so concurrent test processes never see half a script.
fn refresh_scripts(source: &Path, dest: &Path) {
    let Ok(entries) = fs::read_dir(source) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let wanted = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("py" | "mjs" | "cjs")
        );
        let Some(name) = path.file_name() else {
            continue;
        };
        if !wanted {
            continue;
        }
        let Ok(text) = fs::read(&path) else { continue };
        let target = dest.join(name);
        if fs::read(&target).is_ok_and(|old| old == text) {
            continue;
        }
        let tmp = dest.join(format!(
            ".{}.{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if fs::write(&tmp, &text).is_ok() && fs::rename(&tmp, &target).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}
