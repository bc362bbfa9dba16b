//! File descriptors: every connection, child pipe, upstream connection and database file takes
//! one, and the soft limit a process starts with is often 1,024 — a few hundred slow clients
//! would exhaust it, and then nothing works, not even a config reload. The gateway raises its
//! soft limit to the hard limit at start (what the administrator allows), and sizes its
//! connection caps so that a reserve stays free whatever clients do ([`budget`]).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept free of client connections: the store, the config watcher and reloads, log
/// files, stdio children's pipes, and headroom.
pub const RESERVE: u64 = 256;

/// Raises the soft limit on open files to the hard limit; returns the soft limit in force.
pub fn raise() -> std::io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    soft_limit()
}

/// The soft limit on open files now.
pub fn soft_limit() -> std::io::Result<u64> {
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?.0)
}

/// How many client connections the data plane may hold under `soft_limit`, when the admin plane
/// may hold `admin` of its own: each data connection may need a second descriptor upstream (an
/// HTTP server's connection), so half of what the reserve and the admin plane leave.
pub fn budget(soft_limit: u64, admin: usize) -> usize {
    let free = soft_limit.saturating_sub(RESERVE + admin as u64);
    usize::try_from(free / 2).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_the_reserve_and_room_upstream() {
        assert_eq!(budget(1024, 128), 320);
        assert_eq!(budget(1 << 20, 128), ((1 << 20) - 384) / 2);
        assert_eq!(budget(100, 128), 1);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let soft = raise().unwrap();
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
    }
}
