//! `GET /api/audit` reads one of the two hash-chained audit streams back — `requests` (one record
//! per authenticated request) or `admin` (policy replacements, grants, kill switches) — filtered
//! and paged by sequence number; `GET /api/audit/verify` walks the chains and reports the first
//! broken link.
//!
//! Times (`since`, `until`) are ms since the Unix epoch, an RFC 3339 UTC time
//! (`2025-06-01T12:00:00Z`), or a duration ago (`15m`, `2h`, `7d`).

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::grants::duration_ms;
use crate::now_ms;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use toolgate_store::audit::{AdminQuery, AuditDecision, AuditQuery, AuditStream};

/// Most records one query returns.
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// `requests` (default) or `admin`.
    stream: Option<String>,
    since: Option<String>,
    until: Option<String>,
    agent: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    decision: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// Records after this sequence number (the cursor when paging oldest first).
    after: Option<u64>,
    /// Records before this sequence number (the cursor when paging newest first).
    before: Option<u64>,
    /// `asc` (default, oldest first) or `desc`.
    order: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    stream: Option<String>,
}

pub async fn query(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Json<Value>> {
    let stores = app.gateway.stores.as_ref().ok_or_else(ApiError::no_store)?;
    let stream = stream(q.stream.as_deref())?.unwrap_or(AuditStream::Requests);
    let now = now_ms();
    let from_ms = q.since.as_deref().map(|s| time_ms(s, now)).transpose()?;
    let to_ms = q.until.as_deref().map(|s| time_ms(s, now)).transpose()?;
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::invalid_request(format!(
                "order {o:?}: use asc or desc"
            )));
        }
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    // The stream's newest record before the query: with the newest record of the answer, the
    // number a stream opened with `after` starts at, so it misses nothing written since.
    let head = newest_seq(stores, stream).await?;
    let records: Vec<Value> = match stream {
        AuditStream::Requests => {
            refuse_filters(
                "requests",
                &[
                    ("actor", &q.actor),
                    ("action", &q.action),
                    ("target", &q.target),
                ],
            )?;
            let decision = q
                .decision
                .as_deref()
                .map(|d| {
                    d.parse::<AuditDecision>().map_err(|e| {
                        ApiError::invalid_request(format!(
                            "{e}: use one of {}",
                            AuditDecision::ALL.map(|d| d.as_str()).join(", ")
                        ))
                    })
                })
                .transpose()?;
            let query = AuditQuery {
                from_ms,
                to_ms,
                agent: q.agent,
                server: q.server,
                tool: q.tool,
                decision,
                after_seq: q.after,
                before_seq: q.before,
                newest_first,
                limit,
                view: toolgate_store::audit::CallView::Calls,
            };
            to_values(stores.audit.query(&query).await?)
        }
        AuditStream::Admin => {
            refuse_filters(
                "admin",
                &[
                    ("agent", &q.agent),
                    ("server", &q.server),
                    ("tool", &q.tool),
                    ("decision", &q.decision),
                ],
            )?;
            let query = AdminQuery {
                from_ms,
                to_ms,
                actor: q.actor,
                action: q.action,
                target: q.target,
                after_seq: q.after,
                before_seq: q.before,
                newest_first,
                limit,
            };
            to_values(stores.audit.query_admin(&query).await?)
        }
    };
    let full = records.len() == limit as usize;
    let last_seq = records.last().and_then(|r| r["seq"].as_u64());
    let next = match (full, last_seq) {
        (true, Some(seq)) if newest_first => json!({ "before": seq }),
        (true, Some(seq)) => json!({ "after": seq }),
        _ => Value::Null,
    };
    let listed_newest = records.iter().filter_map(|r| r["seq"].as_u64()).max();
    Ok(Json(json!({
        "stream": stream.as_str(),
        "count": records.len(),
        "records": records,
        "next": next,
        "last_seq": listed_newest.map_or(head, |n| n.max(head)),
    })))
}

/// The sequence number of `stream`'s newest record (0 when it has none).
async fn newest_seq(stores: &toolgate_store::Stores, stream: AuditStream) -> ApiResult<u64> {
    Ok(match stream {
        AuditStream::Requests => {
            let query = AuditQuery {
                newest_first: true,
                limit: 1,
                ..AuditQuery::default()
            };
            stores.audit.query(&query).await?.first().map(|r| r.seq)
        }
        AuditStream::Admin => {
            let query = AdminQuery {
                newest_first: true,
                limit: 1,
                ..AdminQuery::default()
            };
            stores
                .audit
                .query_admin(&query)
                .await?
                .first()
                .map(|r| r.seq)
        }
    }
    .unwrap_or(0))
}

pub async fn verify(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> ApiResult<Json<Value>> {
    let stores = app.gateway.stores.as_ref().ok_or_else(ApiError::no_store)?;
    let streams = match stream(q.stream.as_deref())? {
        Some(s) => vec![s],
        None => vec![AuditStream::Requests, AuditStream::Admin],
    };
    let mut reports = Vec::new();
    let mut intact = true;
    for s in streams {
        let report = stores.audit.verify(s).await?;
        intact &= report.is_intact();
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["intact"] = report.is_intact().into();
        if let Some(b) = &report.broken {
            v["message"] = b.to_string().into();
        }
        reports.push(v);
    }
    Ok(Json(json!({ "intact": intact, "streams": reports })))
}

fn to_values<T: serde::Serialize>(records: Vec<T>) -> Vec<Value> {
    records
        .into_iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

fn stream(s: Option<&str>) -> ApiResult<Option<AuditStream>> {
    match s {
        None => Ok(None),
        Some("requests") => Ok(Some(AuditStream::Requests)),
        Some("admin") => Ok(Some(AuditStream::Admin)),
        Some(o) => Err(ApiError::invalid_request(format!(
            "stream {o:?}: use requests or admin"
        ))),
    }
}

fn refuse_filters(stream: &str, filters: &[(&str, &Option<String>)]) -> ApiResult<()> {
    match filters.iter().find(|(_, v)| v.is_some()) {
        Some((name, _)) => Err(ApiError::invalid_request(format!(
            "{name} does not filter the {stream} stream"
        ))),
        None => Ok(()),
    }
}

/// ms since the epoch, RFC 3339, or a duration before `now`.
fn time_ms(s: &str, now: u64) -> ApiResult<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map_err(|_| ApiError::invalid_request(format!("time {s:?} is out of range")));
    }
    if let Some(t) = rfc3339_ms(s) {
        return Ok(t);
    }
    match duration_ms(s) {
        Ok(d) => Ok(now.saturating_sub(d)),
        Err(_) => Err(ApiError::invalid_request(format!(
            "invalid time {s:?}: use ms since the epoch, an RFC 3339 time (2025-06-01T12:00:00Z) or a duration ago (15m, 2h, 7d)"
        ))),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` → ms since the epoch.
fn rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let ms: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 60 + m)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2025-06-01T12:00:00Z"), Some(1_748_779_200_000));
        assert_eq!(
            rfc3339_ms("2025-06-01T14:00:00.5+02:00"),
            Some(1_748_779_200_500)
        );
        assert_eq!(rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(rfc3339_ms("2025-13-01T00:00:00Z"), None);
        assert_eq!(rfc3339_ms("yesterday"), None);
        assert_eq!(time_ms("1234", 0).unwrap(), 1234);
        assert_eq!(time_ms("15m", 1_000_000).unwrap(), 100_000);
        assert!(time_ms("soon", 0).is_err());
    }
}
