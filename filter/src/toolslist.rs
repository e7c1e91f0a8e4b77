//! `tools/list` results, cut down to what the caller may call.
//!
//! Owns: removing from a `tools/list` result every tool the caller's policy
//! hides, leaves unlisted under `default: deny`, or denies unconditionally
//! (`Policy::lists`), and every tool at all for a caller with no policy.
//! Everything else in the message (pagination cursors, `_meta`, other
//! messages of a batch) is kept. A tool without a string name is removed:
//! what cannot be judged is not shown.
//!
//! Does not own: finding the message in the response (`stream`, `sse`).

use crate::engine::conditions::equal;
use crate::json::{self, Json};
use crate::policy::Policy;

/// The message (or batch) `text`, with the `tools/list` results answering
/// `ids` filtered; `None` when nothing in it changes.
pub fn filter(text: &[u8], ids: &[Json<'static>], policy: Option<&Policy>) -> Option<Vec<u8>> {
    let mut value = json::parse(text).ok()?;
    let changed = match &mut value {
        Json::Arr(items) => items
            .iter_mut()
            .map(|m| filter_message(m, ids, policy))
            .fold(false, |a, b| a | b),
        message => filter_message(message, ids, policy),
    };
    changed.then(|| serde_json::to_vec(&value).unwrap_or_default())
}

/// Whether `text` holds a response to one of `ids` (to stop waiting for it).
pub fn answers(value: &Json<'_>, ids: &[Json<'static>]) -> bool {
    let answers_one = |m: &Json<'_>| {
        m.get("id")
            .is_some_and(|id| ids.iter().any(|i| equal(i, id)))
    };
    match value {
        Json::Arr(items) => items.iter().any(answers_one),
        m => answers_one(m),
    }
}

fn filter_message(message: &mut Json<'_>, ids: &[Json<'static>], policy: Option<&Policy>) -> bool {
    if !answers(message, ids) {
        return false;
    }
    let Json::Obj(members) = message else {
        return false;
    };
    let Some((_, Json::Obj(result))) = members.0.iter_mut().find(|(k, _)| k == "result") else {
        return false;
    };
    let Some((_, Json::Arr(tools))) = result.0.iter_mut().find(|(k, _)| k == "tools") else {
        return false;
    };
    let before = tools.len();
    tools.retain(|tool| {
        let name = tool.get("name").and_then(Json::as_str);
        matches!((name, policy), (Some(n), Some(p)) if p.lists(n))
    });
    tools.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Loc, Report};
    use crate::json::{parse_owned, Num};

    fn policy(text: &str) -> Policy {
        let v = parse_owned(text).unwrap();
        crate::policy::read_policy(
            &v,
            &Loc::root().as_policy_root(),
            "",
            &mut Report::default(),
        )
        .unwrap()
    }

    fn names(text: &[u8]) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    const LIST: &str = r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[
        {"name":"echo","inputSchema":{"type":"object"}},{"name":"delete_repository"},{"name":"drop"},{"nome":"x"}],
        "nextCursor":"page-2","_meta":{"k":1}}}"#;

    #[test]
    fn removes_what_the_caller_may_never_call_and_keeps_the_rest() {
        let p = policy(
            r#"{"version":"1","default":"allow","hide":["delete_repository"],"tools":{"drop":{"action":"deny"}}}"#,
        );
        let ids = [Json::Num(Num::U(3))];
        let out = filter(LIST.as_bytes(), &ids, Some(&p)).unwrap();
        assert_eq!(names(&out), ["echo"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["result"]["nextCursor"], "page-2");
        assert_eq!(v["result"]["_meta"]["k"], 1);
        assert_eq!(v["result"]["tools"][0]["inputSchema"]["type"], "object");
    }

    #[test]
    fn default_deny_lists_only_listed_tools_and_no_policy_lists_nothing() {
        let p = policy(r#"{"version":"1","default":"deny","tools":{"echo":{},"drop":{}}}"#);
        let ids = [Json::Num(Num::U(3))];
        assert_eq!(
            names(&filter(LIST.as_bytes(), &ids, Some(&p)).unwrap()),
            ["echo", "drop"]
        );
        assert!(names(&filter(LIST.as_bytes(), &ids, None).unwrap()).is_empty());
    }

    #[test]
    fn other_ids_and_unchanged_lists_are_left_alone() {
        let open = policy(r#"{"version":"1","tools":{}}"#);
        assert_eq!(filter(LIST.as_bytes(), &[Json::Num(Num::U(4))], None), None);
        let clean = r#"{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"echo"}]}}"#;
        assert_eq!(
            filter(clean.as_bytes(), &[Json::Str("a".into())], Some(&open)),
            None
        );
        let batch = format!(r#"[{{"jsonrpc":"2.0","id":1,"result":{{}}}},{LIST}]"#);
        let out = filter(batch.as_bytes(), &[Json::Num(Num::U(3))], None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["id"], 1);
        assert_eq!(v[1]["result"]["tools"], serde_json::json!([]));
    }
}
