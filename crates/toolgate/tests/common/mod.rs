//! Starts the real `toolgate` binary for end-to-end tests: writes a config and its policy files
//! into a temporary folder, runs `toolgate serve`, and reads the address it listens on.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use toolgate_testkit::ChildGuard;

pub const TOOLGATE: &str = env!("CARGO_BIN_EXE_toolgate");

/// A running gateway; killed (with its whole process group) when dropped.
pub struct Toolgate {
    pub guard: ChildGuard,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Toolgate {
    /// Starts `toolgate serve` with `config` (TOML; `listen` is added) and `files` written next
    /// to it.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Toolgate {
        Self::start_with_env(config, files, &[])
    }

    /// [`Toolgate::start`] with extra environment variables for the gateway (e.g. the ones its
    /// config refers to as `${NAME}`).
    pub fn start_with_env(config: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Toolgate {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write file");
        }
        let config = format!("[gateway]\nlisten = \"127.0.0.1:0\"\n\n{config}");
        let config_path = dir.path().join("toolgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("toolgate.log")).expect("log file");
        let mut cmd = Command::new(TOOLGATE);
        cmd.arg("serve")
            .arg("-c")
            .arg(&config_path)
            .env("TOOLGATE_LOG", "info,toolgate=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut guard = ChildGuard::spawn("toolgate", &mut cmd).expect("start toolgate");
        let stdout = guard.child_mut().stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => panic!("toolgate did not start; its log:\n{}", read_log(dir.path())),
        };
        let base = line
            .strip_prefix("toolgate listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        Toolgate { guard, base, dir }
    }

    /// The MCP endpoint of one server.
    pub fn url(&self, server: &str) -> String {
        format!("{}/mcp/{server}", self.base)
    }

    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("toolgate.log")).unwrap_or_default()
}

/// A TOML string literal.
pub fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

/// A TOML array of strings.
pub fn toml_array(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
