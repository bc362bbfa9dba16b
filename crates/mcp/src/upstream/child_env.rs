//! The environment a stdio child starts with. A child never inherits the gateway's environment
//! wholesale: that would hand the gateway's own secrets (`TOOLGATE_ADMIN_TOKEN`,
//! `TOOLGATE_WEBHOOK_SECRET`, whatever else its operator exported) to any server that can print
//! its environment, and so to any agent. It gets a short allow-list of variables a program needs
//! to run ([`PASSED_THROUGH`]), the variables its configuration names in `inherit_env`, and its
//! configured `env`; never a `TOOLGATE_*` variable of the gateway's.

use std::ffi::{OsStr, OsString};

/// Variables every child gets from the gateway's environment when they are set: where programs
/// are found (`PATH`), whose they are (`HOME`, `USER`, `LOGNAME`, `SHELL`), the locale (`LANG`,
/// `LANGUAGE`, `LC_*`), the time zone (`TZ`) and where temporary files go (`TMPDIR`). Enough for
/// `node`, `npx`, `python`, `uvx` and `docker` to start; nothing in it is a credential.
/// Proxies (`HTTPS_PROXY`, which may carry a password), CA bundles (`NODE_EXTRA_CA_CERTS`,
/// `SSL_CERT_FILE`), `NODE_OPTIONS`, `npm_config_*` and API keys are named in `inherit_env`
/// when a server needs them.
pub const PASSED_THROUGH: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
];

/// The prefix of the gateway's own variables (its tokens and secrets among them): none of them
/// reaches a child, whatever `inherit_env` says.
pub const GATEWAY_PREFIX: &str = "TOOLGATE_";

/// Whether a variable belongs to the gateway (`TOOLGATE_*`, in any case).
pub fn is_gateway_own(name: &str) -> bool {
    name.len() >= GATEWAY_PREFIX.len()
        && name.as_bytes()[..GATEWAY_PREFIX.len()].eq_ignore_ascii_case(GATEWAY_PREFIX.as_bytes())
}

/// Whether a variable of the gateway's environment is passed to every child.
pub fn is_passed_through(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    PASSED_THROUGH.contains(&name) || name.starts_with("LC_")
}

/// Whether `name` can be an environment variable's name in `inherit_env`: letters, digits and
/// `_`, not starting with a digit.
pub fn is_valid_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The child's whole environment: from `parent` (the gateway's environment), the allow-list and
/// the `inherit` names (a `TOOLGATE_*` name is skipped); then `env`, which wins over both.
pub fn for_child(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    inherit: &[String],
    env: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let inherited = |name: &OsStr| {
        name.to_str().is_some_and(|n| {
            !is_gateway_own(n) && (is_passed_through(name) || inherit.iter().any(|i| i == n))
        })
    };
    let mut out: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, _)| inherited(name))
        .filter(|(name, _)| !env.iter().any(|(k, _)| OsStr::new(k) == name))
        .collect();
    out.extend(
        env.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/op"),
            ("LC_ALL", "C.UTF-8"),
            ("TOOLGATE_ADMIN_TOKEN", "admin-secret"),
            ("TOOLGATE_WEBHOOK_SECRET", "hook-secret"),
            ("toolgate_lower", "x"),
            ("SOME_SECRET", "s3cret"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("INHERITED_X", "from-gateway"),
            ("FOO", "gateway-foo"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<&str> {
        let mut n: Vec<&str> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        n.sort_unstable();
        n
    }

    #[test]
    fn only_the_allow_list_the_inherited_names_and_the_configured_env_reach_a_child() {
        let env = for_child(
            parent(),
            &["INHERITED_X".into()],
            &[("FOO".into(), "bar".into())],
        );
        assert_eq!(
            names(&env),
            ["FOO", "HOME", "INHERITED_X", "LC_ALL", "PATH"]
        );
        let foo: Vec<_> = env.iter().filter(|(k, _)| k == "FOO").collect();
        assert_eq!(foo, [&("FOO".into(), "bar".into())], "env wins, once");
    }

    #[test]
    fn the_gateway_s_own_variables_never_reach_a_child_even_when_named() {
        let env = for_child(
            parent(),
            &[
                "TOOLGATE_ADMIN_TOKEN".into(),
                "Toolgate_Webhook_Secret".into(),
                "toolgate_lower".into(),
            ],
            &[],
        );
        assert_eq!(names(&env), ["HOME", "LC_ALL", "PATH"]);
    }

    #[test]
    fn variable_names() {
        assert!(is_valid_name("INHERITED_X") && is_valid_name("_x1"));
        assert!(!is_valid_name("") && !is_valid_name("1X") && !is_valid_name("A-B"));
        assert!(is_gateway_own("TOOLGATE_ADMIN_TOKEN") && is_gateway_own("toolgate_x"));
        assert!(!is_gateway_own("TOOLGATE") && !is_gateway_own("MY_TOOLGATE_X"));
    }
}
