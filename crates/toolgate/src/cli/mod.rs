//! The operator's commands on the store: `toolgate grant`, `toolgate audit` and `toolgate kill`.
//! Each finds the store through the config's `[gateway] store` (or `--store URL`), acts on it
//! directly (a running gateway sees grants on the next request and kill switches within a
//! second), and writes every change to the admin audit stream with actor `cli`.

pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod grant;
pub mod kill;
pub mod pins;

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use toolgate_gateway::settings::Settings;
use toolgate_store::Stores;
use toolgate_store::audit::AdminEvent;

/// The actor of every admin event these commands write.
pub const ACTOR: &str = "cli";

/// Exit code for a command line that cannot be acted on (as clap's own usage errors).
const EXIT_USAGE: u8 = 2;

/// Where the store is: `-c toolgate.toml` (its `[gateway] store`), or `--store URL`.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The config whose `[gateway] store` to use (default store: toolgate.db next to it).
    #[arg(short, long, global = true, default_value = "toolgate.toml")]
    pub config: PathBuf,
    /// The store URL (`sqlite://path.db`), instead of the config's.
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// The audit key file, instead of `TOOLGATE_AUDIT_KEY` or the config's `[audit] key_file`.
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
}

/// A command that failed: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A runtime failure (exit 1): the store cannot be read, the grant does not exist…
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// An invalid configuration or policy file (exit 78).
    pub fn config(message: impl Into<String>) -> Failure {
        Failure {
            code: crate::EXIT_CONFIG,
            message: message.into(),
        }
    }

    /// A command line that cannot be acted on (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

impl From<toolgate_store::StoreError> for Failure {
    fn from(e: toolgate_store::StoreError) -> Failure {
        Failure::runtime(e.to_string())
    }
}

/// Prints a failure and turns the result into an exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// The stores, and the config's settings when the store was found through it.
pub struct Opened {
    pub stores: Stores,
    /// The audit key the store was opened with.
    pub key: Option<toolgate_store::audit::ChainKey>,
    pub settings: Option<Settings>,
    pub url: String,
}

impl StoreArgs {
    /// The config, checked as `validate` does except that `${ENV}` references resolve to ""
    /// (nothing is contacted).
    pub fn settings(&self) -> Result<Settings, Failure> {
        let path = &self.config;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::config(format!(
                "{}: cannot read the configuration file: {e}\n  help: pass the gateway's config with -c/--config, or the store with --store sqlite://PATH",
                path.display()
            ))
        })?;
        crate::config::parse(&text, path, &|_| Some(String::new()))
            .map_err(|e| Failure::config(format!("{e}\nerror: {} is invalid", path.display())))
    }

    /// Opens the store named by `--store`, else by the config.
    pub async fn open(&self) -> Result<Opened, Failure> {
        let (url, settings) = match &self.store {
            Some(url) => (url.clone(), None),
            None => {
                let settings = self.settings()?;
                let Some(url) = settings.store.clone() else {
                    return Err(Failure::config(format!(
                        "{}: [gateway] store is \"none\": there are no grants, audit log or kill switches to manage",
                        self.config.display()
                    )));
                };
                (url, Some(settings))
            }
        };
        if url.starts_with("memory:") {
            return Err(Failure::usage(format!(
                "the store {url:?} lives inside the gateway's process; the command line can only reach a database (sqlite://…)"
            )));
        }
        // The config's key file, when the config can be read (also with --store).
        let config_settings = match &settings {
            Some(s) => Some(s.clone()),
            None => self.config.exists().then(|| self.settings().ok()).flatten(),
        };
        let key =
            crate::audit_chain::existing_key(self.audit_key.as_deref(), config_settings.as_ref())
                .map_err(|e| Failure::runtime(format!("cannot read the audit key: {e}")))?;
        let stores = toolgate_store::open_keyed(&url, key.clone())
            .await
            .map_err(|e| Failure::runtime(format!("cannot open the store {url}: {e}")))?;
        Ok(Opened {
            stores,
            key,
            settings,
            url,
        })
    }
}

impl Opened {
    /// Writes one admin event (actor `cli`).
    pub async fn audit_admin(
        &self,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), Failure> {
        let event = AdminEvent {
            time_ms: now_ms(),
            actor: ACTOR.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            details,
        };
        self.stores
            .audit_sink
            .append_admin(std::slice::from_ref(&event))
            .await
            .map_err(|e| {
                Failure::runtime(format!(
                    "the change was made, but writing it to the admin audit stream failed: {e}"
                ))
            })?;
        Ok(())
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2024-05-01T12:00:00.000Z` for ms since the Unix epoch.
pub fn format_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// `format_ms`, or `-` for none.
pub fn format_opt_ms(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), format_ms)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 time (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`) or a date
/// (`2024-05-01`, midnight UTC) → ms since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    let mut ms: i64 = 0;
    if let Some(time) = time {
        let (clock, offset_min) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
            (c, 0i64)
        } else {
            let i = time.rfind(['+', '-'])?;
            let (c, off) = time.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off[1..].split_once(':')?;
            (c, sign * i64::from(num(oh)? * 60 + num(om)?))
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (clock, None),
        };
        let mut f = hms.split(':');
        let (h, mi, se) = (num(f.next()?)?, num(f.next()?)?, num(f.next()?)?);
        if f.next().is_some() || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let frac_ms = match frac {
            Some(fr) => {
                num(fr)?;
                let digits: String = fr.chars().chain("000".chars()).take(3).collect();
                i64::from(digits.parse::<u32>().ok()?)
            }
            None => 0,
        };
        ms = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - offset_min * 60) * 1000
            + frac_ms;
    }
    u64::try_from(days * 86_400_000 + ms).ok()
}

/// `1h`, `30m`, `7d` (that long before now) or an RFC 3339 time → ms since the Unix epoch.
pub fn parse_time(s: &str, now_ms: u64) -> Result<u64, Failure> {
    if let Some(d) = crate::config::parse_duration(s) {
        return Ok(now_ms.saturating_sub(d.as_millis() as u64));
    }
    parse_rfc3339(s).ok_or_else(|| {
        Failure::usage(format!(
            "invalid time {s:?}: use a duration before now (\"90s\", \"30m\", \"1h\", \"7d\") or an RFC 3339 time (\"2024-05-01T12:00:00Z\")"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00.123+02:00"),
            Some(1_714_564_800_123)
        );
        assert_eq!(parse_rfc3339("2024-05-01"), Some(1_714_521_600_000));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-05-01T25:00:00Z",
            "2024-05-01T12:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_time("1h", 10_000_000).unwrap(),
            10_000_000 - 3_600_000
        );
        assert!(parse_time("soon", 0).is_err());
    }
}
