//! Finding the `twenty-mcp` binary from a test of any crate.
//!
//! Cargo builds a package's binaries only for that package's own integration tests, so a test in another crate
//! that depends on this one cannot rely on `CARGO_BIN_EXE_twenty-mcp`. The binary sits next to the test
//! executable's `deps/` folder (`target/<profile>/twenty-mcp`); when it is missing or older than this crate's
//! sources, it is built once per test process with `cargo build -p toolgate-testkit --bin twenty-mcp`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The path of a `twenty-mcp` binary at least as new as this crate's sources, building it if needed.
///
/// # Panics
/// When the build fails or the test executable's location is not inside a cargo target folder.
pub fn twenty_mcp_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> PathBuf {
    let exe = std::env::current_exe().expect("the current test executable has a path");
    // target/<profile>/deps/<test>-<hash>, or target/<profile>/<bin> for a binary.
    let profile_dir = exe
        .ancestors()
        .skip(1)
        .find(|dir| {
            dir.file_name()
                .is_some_and(|n| n != "deps" && n != "examples")
        })
        .unwrap_or_else(|| panic!("{} is not inside a cargo target folder", exe.display()))
        .to_path_buf();
    let bin = profile_dir.join("twenty-mcp");
    if is_fresh(&bin) {
        return bin;
    }
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let target_dir = profile_dir.parent().expect("a profile folder has a parent");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "toolgate-testkit",
            "--bin",
            "twenty-mcp",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(crate::paths::repo_root());
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build twenty-mcp: {e}"));
    assert!(
        status.success(),
        "`cargo build -p toolgate-testkit --bin twenty-mcp` failed ({status})"
    );
    assert!(
        bin.is_file(),
        "cargo built twenty-mcp but {} does not exist",
        bin.display()
    );
    bin
}

/// The binary exists and is newer than every source file of this crate and of the demo server.
fn is_fresh(bin: &Path) -> bool {
    let Some(built) = modified(bin) else {
        return false;
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The server's code and catalogue live in the demo-server crate beside this one.
    let demo_server = crate_dir.join("../demo-server");
    let newest = [
        &crate_dir.join("src"),
        &crate_dir.join("Cargo.toml"),
        &demo_server,
    ]
    .iter()
    .filter_map(|p| newest_in(p))
    .max();
    newest.is_none_or(|n| n <= built)
}

fn newest_in(path: &Path) -> Option<SystemTime> {
    if path.is_dir() {
        fs::read_dir(path)
            .ok()?
            .flatten()
            .filter_map(|e| newest_in(&e.path()))
            .max()
    } else {
        modified(path)
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}
