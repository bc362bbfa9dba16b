//! The words that tell what a tool does: verbs by the category they imply, and the nouns of
//! money and of credentials. Kept as plain `match` tables so that a reviewer can read them.

use crate::Category;

/// The category a verb implies, for an exact lower-case word.
pub fn verb(word: &str) -> Option<Category> {
    use Category::*;
    Some(match word {
        // Reading, searching, computing.
        "get" | "list" | "ls" | "read" | "search" | "find" | "fetch" | "query" | "describe"
        | "show" | "view" | "retrieve" | "lookup" | "look" | "check" | "count" | "inspect"
        | "browse" | "download" | "export" | "stat" | "status" | "diff" | "log" | "logs"
        | "history" | "explain" | "validate" | "verify" | "preview" | "watch" | "echo" | "ping"
        | "health" | "info" | "calculate" | "calc" | "compute" | "summarize" | "summarise"
        | "analyze" | "analyse" | "compare" | "think" | "screenshot" | "snapshot" | "tree"
        | "head" | "tail" | "print" | "render" | "suggest" | "estimate" | "recommend"
        | "whoami" | "detect" | "identify" | "extract" | "parse" | "translate" | "measure"
        | "scan" | "monitor" | "poll" | "wait" | "discover" | "probe" | "examine" | "return"
        | "returns" | "lists" | "gets" | "reads" | "retrieves" | "obtain" | "convert"
        | "geocode" | "sample" | "grep" | "locate" | "audit" | "lint" | "peek" => Read,
        // Creating and changing data.
        "create" | "add" | "new" | "insert" | "update" | "edit" | "set" | "put" | "post"
        | "append" | "write" | "save" | "upload" | "modify" | "patch" | "change" | "rename"
        | "move" | "mv" | "copy" | "cp" | "merge" | "commit" | "push" | "comment" | "reply"
        | "respond" | "send" | "publish" | "tag" | "label" | "assign" | "unassign" | "invite"
        | "star" | "unstar" | "fork" | "archive" | "unarchive" | "close" | "reopen" | "enable"
        | "disable" | "lock" | "unlock" | "mark" | "upsert" | "import" | "submit" | "approve"
        | "reject" | "attach" | "detach" | "link" | "register" | "subscribe" | "unsubscribe"
        | "follow" | "unfollow" | "react" | "pin" | "unpin" | "schedule" | "configure"
        | "grant" | "share" | "transition" | "duplicate" | "clone" | "restore" | "store"
        | "record" | "init" | "initialize" | "setup" | "connect" | "disconnect" | "login"
        | "logout" | "bookmark" | "annotate" | "notify" | "request" | "increment" | "decrement"
        | "toggle" | "replace" | "dismiss" | "acknowledge" | "ack" | "snooze" | "mute"
        | "unmute" | "block" | "unblock" | "join" | "leave" | "accept" | "decline" | "complete"
        | "reorder" | "sync" | "refresh" | "reindex" | "promote" | "demote" | "revert"
        | "checkout" | "generate" | "make" | "mkdir" | "touch" | "enqueue" | "materialize"
        | "resize" | "rotate" | "renew" | "extend" | "draft" | "capture" | "resolve" | "review"
        | "associate" | "disassociate" | "favorite" | "comments" | "creates" | "updates"
        | "adds" | "writes" | "sets" => Write,
        // Running things.
        "run" | "execute" | "exec" | "invoke" | "call" | "trigger" | "start" | "launch"
        | "deploy" | "build" | "restart" | "reboot" | "stop" | "halt" | "pause" | "resume"
        | "eval" | "evaluate" | "install" | "spawn" | "shell" | "bash" | "sh" | "script"
        | "click" | "navigate" | "goto" | "type" | "press" | "hover" | "drag" | "fill" | "tap"
        | "scroll" | "swipe" | "scale" | "rollout" | "migrate" | "compile" | "dispatch"
        | "cancel" | "abort" | "retry" | "rerun" | "apply" | "forward" | "debug" | "simulate"
        | "emulate" | "train" | "upgrade" | "downgrade" | "provision" | "runs" | "executes"
        | "invokes" | "triggers" | "starts" | "deploys" | "manage" | "handle" | "test" | "emit"
        | "interact" | "automate" | "act" | "perform" => Execute,
        // Losing data irreversibly.
        "delete" | "del" | "remove" | "rm" | "rmdir" | "drop" | "destroy" | "purge" | "wipe"
        | "erase" | "truncate" | "terminate" | "kill" | "uninstall" | "revoke" | "overwrite"
        | "reset" | "prune" | "clear" | "evict" | "flush" | "deregister" | "unregister"
        | "discard" | "shred" | "nuke" | "obliterate" | "empty" | "force" | "cleanup" | "clean"
        | "undeploy" | "decommission" | "deletes" | "removes" | "overwrites" | "unlink"
        | "expunge" | "teardown" => Destructive,
        // Moving money.
        "pay" | "refund" | "charge" | "payout" | "purchase" | "buy" | "sell" | "withdraw"
        | "deposit" | "bill" | "settle" | "fund" | "tip" | "donate" | "finalize" | "void" => {
            Financial
        }
        _ => return None,
    })
}

/// Whether a word names money, payment or billing things.
pub fn financial_noun(word: &str) -> bool {
    matches!(
        word,
        "payment"
            | "payments"
            | "charge"
            | "charges"
            | "refund"
            | "refunds"
            | "invoice"
            | "invoices"
            | "invoiceitem"
            | "invoiceitems"
            | "payout"
            | "payouts"
            | "subscription"
            | "subscriptions"
            | "checkout"
            | "billing"
            | "dispute"
            | "disputes"
            | "wallet"
            | "money"
            | "creditnote"
            | "credit"
            | "paymentintent"
            | "paymentlink"
            | "fee"
            | "fees"
            | "purchase"
            | "funds"
            | "ledger"
            | "settlement"
            | "settlements"
            | "transaction"
            | "transactions"
            | "journal"
            | "journals"
            | "order"
            | "orders"
    )
}

/// Whether a word names a secret on its own.
pub fn credential_noun(word: &str) -> bool {
    matches!(
        word,
        "credential"
            | "credentials"
            | "secret"
            | "secrets"
            | "password"
            | "passwords"
            | "passwd"
            | "oauth"
            | "apikey"
            | "apikeys"
            | "token"
            | "tokens"
            | "keypair"
            | "keypairs"
            | "privatekey"
    )
}

/// Whether two adjacent words name a secret: `api key`, `connected account`, `ssh key`.
pub fn credential_pair(first: &str, second: &str) -> bool {
    matches!(
        (first, second),
        ("connected", "account" | "accounts")
            | (
                "api" | "access" | "ssh" | "private" | "signing" | "deploy" | "gpg",
                "key" | "keys"
            )
    )
}

/// Whether a word of a name says the tool reads the process environment, where servers keep
/// their keys and tokens (`get-env`, `printEnv`, `getenv`, `load_dotenv`).
pub fn environment_word(word: &str) -> bool {
    matches!(
        word,
        "env" | "envs" | "environ" | "getenv" | "printenv" | "dotenv" | "envvar" | "envvars"
    )
}

/// Whether two adjacent words name environment variables (`environment variables`, `env var`).
pub fn environment_pair(first: &str, second: &str) -> bool {
    matches!(
        (first, second),
        (
            "environment" | "env",
            "variable" | "variables" | "var" | "vars"
        )
    )
}

/// Whether a word of a name names a configuration: a tool that reads one reads the secrets in it
/// when its description speaks of any (`get_config` "… including API tokens").
pub fn configuration_noun(word: &str) -> bool {
    matches!(
        word,
        "config" | "configs" | "configuration" | "configurations" | "settings" | "conf"
    )
}

/// Words of prose that name a secret.
pub fn secret_word(word: &str) -> bool {
    credential_noun(word) || matches!(word, "key" | "keys")
}

/// Property names whose presence says the tool runs what it is given.
pub fn code_property(name: &str) -> bool {
    matches!(
        name,
        "command"
            | "cmd"
            | "commands"
            | "script"
            | "shell"
            | "sql"
            | "statement"
            | "javascript"
            | "js"
            | "python"
            | "expression"
            | "function"
            | "program"
    )
}

/// Words that say a tool drives a live browser or desktop: whatever such a tool changes, it
/// does so by acting on a running application.
pub fn automation_context(word: &str) -> bool {
    matches!(
        word,
        "browser" | "puppeteer" | "playwright" | "mouse" | "keyboard" | "selenium" | "webdriver"
    )
}

/// Phrases in a description that announce an irreversible effect.
pub const IRREVERSIBLE_PHRASES: [&str; 7] = [
    "permanently",
    "irreversib",
    "cannot be undone",
    "can't be undone",
    "can not be undone",
    "not reversible",
    "overwrite",
];

/// Phrases in a description that state the tool changes nothing.
pub const READ_ONLY_PHRASES: [&str; 4] = ["read-only", "read only", "readonly", "does not modify"];

/// Words in a description that say money moves ("subscription" is not one: MCP resources have
/// subscriptions too).
pub fn money_word(word: &str) -> bool {
    matches!(
        word,
        "payment"
            | "payments"
            | "refund"
            | "refunds"
            | "invoice"
            | "invoices"
            | "payout"
            | "payouts"
            | "funds"
            | "money"
            | "billing"
            | "charge"
            | "charges"
    )
}
