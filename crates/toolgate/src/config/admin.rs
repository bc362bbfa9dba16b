//! `[admin]`'s credentials and the web UI's mode: the admin token (`token_sha256`), role tokens
//! (`[admin.tokens.<label>]` with `role` and `token_sha256`) and `ui = "read-write" | "read-only"`,
//! checked with the rest of the configuration and handed to the admin plane at start.

use super::errors::Ctx;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;
use toolgate_admin::auth::ADMIN_TOKEN_LABEL;
use toolgate_admin::role::Role;

/// `[admin.tokens.<label>]`: a token of one role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdminToken {
    role: Spanned<String>,
    token_sha256: Spanned<String>,
}

/// The raw `[admin]` keys this module reads.
pub(super) struct RawAccess<'a> {
    pub token_sha256: Option<&'a Spanned<String>>,
    pub ui: Option<&'a Spanned<String>>,
    pub tokens: &'a BTreeMap<String, Spanned<RawAdminToken>>,
}

/// Who may use the admin plane, as the configuration says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AdminAccess {
    /// `[admin] token_sha256`: the admin token's SHA-256.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// `[admin.tokens.*]`: (label, role, SHA-256), by label.
    pub role_tokens: Vec<(String, Role, [u8; 32])>,
    /// `[admin] ui = "read-only"`.
    pub ui_read_only: bool,
}

/// Validates `[admin]`'s credentials and UI mode, reporting every problem to `cx`.
pub(super) fn access(cx: &mut Ctx<'_>, raw: &RawAccess<'_>) -> AdminAccess {
    let mut out = AdminAccess::default();
    if let Some(h) = raw.token_sha256 {
        out.admin_token_sha256 = sha256(cx, h, "admin.token_sha256");
    }
    if let Some(ui) = raw.ui {
        match ui.get_ref().as_str() {
            "read-write" => {}
            "read-only" => out.ui_read_only = true,
            other => cx.at(
                ui.span(),
                format!("admin.ui {other:?} is not a mode of the web UI"),
                Some(
                    "use \"read-only\" (every operator reads, nobody changes anything through the UI) or \"read-write\" (the default: what each role may)",
                ),
            ),
        }
    }
    let mut seen: Vec<[u8; 32]> = Vec::new();
    seen.extend(out.admin_token_sha256);
    for (label, token) in raw.tokens {
        let t = token.get_ref();
        let table = format!("admin.tokens.{label}");
        if !valid_label(label) {
            cx.at(
                token.span(),
                format!("[{table}]: {label:?} cannot label an admin token"),
                Some(&format!(
                    "use 1 to 64 letters, digits, '.', '-' or '_', other than {ADMIN_TOKEN_LABEL:?} (the admin token's own label)"
                )),
            );
        }
        let role = Role::parse(t.role.get_ref());
        if role.is_none() {
            cx.at(
                t.role.span(),
                format!("{table}.role {:?} is not a role", t.role.get_ref()),
                Some("use \"admin\" (everything), \"approver\" (decide held calls, read) or \"viewer\" (read only)"),
            );
        }
        let hash = sha256(cx, &t.token_sha256, &format!("{table}.token_sha256"));
        if let Some(h) = hash {
            if seen.contains(&h) {
                cx.at(
                    t.token_sha256.span(),
                    format!("{table}.token_sha256 is the SHA-256 of a token configured already"),
                    Some("give each admin credential its own token: one token has one role"),
                );
            }
            seen.push(h);
        }
        if let (Some(role), Some(h)) = (role, hash) {
            out.role_tokens.push((label.clone(), role, h));
        }
    }
    out
}

fn sha256(cx: &mut Ctx<'_>, text: &Spanned<String>, key: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(text.get_ref(), &mut out).is_ok() {
        return Some(out);
    }
    cx.at(
        text.span(),
        format!("{key} is not a SHA-256 in hex"),
        Some("write the 64 hex digits of sha256(token), e.g. `printf %s \"$TOKEN\" | sha256sum`"),
    );
    None
}

/// Labels name the actor in the admin audit stream: 1 to 64 of `[A-Za-z0-9._-]`, and not the
/// admin token's own.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 64
        && label != ADMIN_TOKEN_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The loader's verdict on `text`, and (when it is readable) what [`access`] makes of it.
    fn read(text: &str) -> (Result<(), String>, Option<AdminAccess>) {
        let parsed = super::super::parse(text, Path::new("toolgate.toml"), &|_| None)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let raw: Option<super::super::RawConfig> = toml::from_str(text).ok();
        let mut cx = Ctx::new("toolgate.toml", text, false);
        (parsed, raw.map(|raw| access(&mut cx, &raw.admin.access())))
    }

    const VIEWER_HASH: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const APPROVER_HASH: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn role_tokens_and_the_read_only_ui_are_read() {
        let (ok, access) = read(&format!(
            "[admin]\nui = \"read-only\"\n\n[admin.tokens.vera]\nrole = \"viewer\"\ntoken_sha256 = \"{VIEWER_HASH}\"\n\n[admin.tokens.april]\nrole = \"approver\"\ntoken_sha256 = \"{APPROVER_HASH}\"\n"
        ));
        ok.unwrap();
        let access = access.unwrap();
        assert!(access.ui_read_only);
        assert_eq!(access.admin_token_sha256, None);
        assert_eq!(
            access.role_tokens,
            vec![
                ("april".to_owned(), Role::Approver, [0x22; 32]),
                ("vera".to_owned(), Role::Viewer, [0x11; 32]),
            ]
        );
        let (ok, access) = read("");
        ok.unwrap();
        assert_eq!(access, Some(AdminAccess::default()));
    }

    #[test]
    fn bad_roles_hashes_labels_modes_and_keys_are_located() {
        let (errors, _) = read(&format!(
            "[admin]\nui = \"kiosk\"\ntoken_sha256 = \"{VIEWER_HASH}\"\n\n\
             [admin.tokens.vera]\nrole = \"root\"\ntoken_sha256 = \"abc\"\n\n\
             [admin.tokens.dup]\nrole = \"viewer\"\ntoken_sha256 = \"{VIEWER_HASH}\"\n\n\
             [admin.tokens.admin-token]\nrole = \"admin\"\ntoken_sha256 = \"{APPROVER_HASH}\"\n\n\
             [admin.tokens.typo]\nrole = \"viewer\"\ntoken_sha265 = \"{APPROVER_HASH}\"\n"
        ));
        let e = errors.unwrap_err();
        let heads: Vec<&str> = e.lines().filter(|l| !l.starts_with("  ")).collect();
        assert_eq!(
            heads,
            [
                "toolgate.toml:2:6: admin.ui \"kiosk\" is not a mode of the web UI",
                "toolgate.toml:6:8: admin.tokens.vera.role \"root\" is not a role",
                "toolgate.toml:7:16: admin.tokens.vera.token_sha256 is not a SHA-256 in hex",
                "toolgate.toml:11:16: admin.tokens.dup.token_sha256 is the SHA-256 of a token configured already",
                "toolgate.toml:13:1: [admin.tokens.admin-token]: \"admin-token\" cannot label an admin token",
                "toolgate.toml:17:1: [admin.tokens.typo] is missing the required key \"token_sha256\"",
                "toolgate.toml:19:1: unknown key \"token_sha265\"",
            ],
            "{e}"
        );
        assert!(
            e.contains("help: use \"admin\" (everything), \"approver\" (decide held calls, read) or \"viewer\" (read only)"),
            "{e}"
        );
    }
}
