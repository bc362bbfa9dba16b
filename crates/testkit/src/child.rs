//! A child process that cannot outlive its test: it runs in its own process group, and dropping the guard
//! kills the whole group (the child and anything it spawned, like `npx` → `node`) and reaps the child.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Owns a running child process and its process group.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `command` as the leader of a new process group. `name` appears in panic messages.
    pub fn spawn(name: impl Into<String>, command: &mut Command) -> io::Result<Self> {
        let child = command.process_group(0).spawn()?;
        Ok(Self {
            child,
            name: name.into(),
            status: None,
        })
    }

    /// The child's pid, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying child, e.g. to take its stdin or stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `signal` to the whole process group (errors ignored: the group may be gone).
    pub fn signal(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }

    /// Asks the group to stop (SIGTERM), waits up to `grace`, then kills it (SIGKILL). Returns the child's
    /// status; use this to test graceful shutdown.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.try_status().is_none() {
            self.signal(Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while self.try_status().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill()
    }

    /// Kills the group at once and reaps the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        // Also after the leader exited: its children may still hold ports or pipes.
        self.signal(Signal::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        self.status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_kills_grandchildren_too() {
        let dir = std::env::temp_dir().join(format!("testkit-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("grandchild.pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let guard = ChildGuard::spawn("sh", Command::new("sh").arg("-c").arg(script)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let grandchild = loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile)
                && let Ok(pid) = text.trim().parse::<i32>()
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the grandchild never started");
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(guard);
        let alive = || nix::sys::signal::kill(Pid::from_raw(grandchild), None).is_ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A killed grandchild is reaped by init; until then it may linger as a zombie, which is dead enough.
        let zombie_or_gone = !alive()
            || std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .map(|s| s.split_whitespace().nth(2) == Some("Z"))
                .unwrap_or(true);
        assert!(zombie_or_gone, "grandchild {grandchild} survived its guard");
        let _ = std::fs::remove_dir_all(dir);
    }
}
