//! Claude Code's `.claude/settings.json`: merging in the `WorktreeCreate`
//! and `WorktreeRemove` hook entries that run `dev-prism hook …`. Pure.
//!
//! Everything else in the file is kept: values are carried over as their
//! original text (serde_json's `RawValue`), keys in their order, so a file
//! formatted like `JSON.stringify(x, null, 2)` (or with any other indent)
//! changes only where the entries are added. A file that already has them
//! is not rewritten at all. An event that already has a hook of someone
//! else is left alone (with a warning): Claude Code would run both, and
//! two hooks cannot both create the worktree.

use anyhow::Result;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The file, relative to the repository root.
pub const PATH: &str = ".claude/settings.json";
/// The command of the `WorktreeCreate` hook.
pub const CREATE_COMMAND: &str = "dev-prism hook worktree-create";
/// The command of the `WorktreeRemove` hook.
pub const REMOVE_COMMAND: &str = "dev-prism hook worktree-remove";

/// The events and their commands.
pub const HOOKS: [(&str, &str); 2] = [
    ("WorktreeCreate", CREATE_COMMAND),
    ("WorktreeRemove", REMOVE_COMMAND),
];

/// What merging decided.
#[derive(Debug, PartialEq, Eq)]
pub struct Merged {
    /// The new text, `None` when nothing changes.
    pub text: Option<String>,
    /// Events the entries were added to.
    pub added: Vec<&'static str>,
    /// Events left alone because another hook is there.
    pub warnings: Vec<String>,
}

/// An object's members in their order, values as written.
struct Ordered(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(Ordered(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Every `command` of a hook-event array, in either shape Claude Code
/// accepts (`{"hooks": [{"command": …}]}` or a bare `{"command": …}`).
fn commands(entries: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if let Some(c) = e.get("command").and_then(Value::as_str) {
            out.push(c.to_string());
        }
        for h in e
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = h.get("command").and_then(Value::as_str) {
                out.push(c.to_string());
            }
        }
    }
    out
}

/// Whether a hook command is dev-prism's for `event_command` (a path to the
/// binary, or options before `hook`, still count).
fn is_ours(command: &str, event_command: &str) -> bool {
    let tail = event_command.trim_start_matches("dev-prism ");
    command.contains("dev-prism") && command.contains(tail)
}

/// The indent unit of a JSON text: the leading whitespace of its first
/// indented line (two spaces when there is none).
fn indent_unit(text: &str) -> String {
    text.lines()
        .skip(1)
        .map(|l| &l[..l.len() - l.trim_start().len()])
        .find(|ws| !ws.is_empty())
        .unwrap_or("  ")
        .to_string()
}

/// The entry for one event, `{"hooks": [{"type": "command", "command":
/// …}]}`, as text for an array element at `depth`.
fn entry_text(command: &str, unit: &str, depth: usize) -> String {
    let pad = |n: usize| unit.repeat(depth + n);
    format!(
        "{{\n{p1}\"hooks\": [\n{p2}{{\n{p3}\"type\": \"command\",\n{p3}\"command\": {cmd}\n{p2}}}\n{p1}]\n{p0}}}",
        p0 = pad(0),
        p1 = pad(1),
        p2 = pad(2),
        p3 = pad(3),
        cmd = Value::String(command.to_string()),
    )
}

/// `{` members `}` at `depth`, each member's value given as text.
fn object(members: &[(String, String)], unit: &str, depth: usize) -> String {
    if members.is_empty() {
        return "{}".into();
    }
    let pad = unit.repeat(depth + 1);
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{pad}{}: {v}", Value::String(k.clone())))
        .collect();
    format!("{{\n{}\n{}}}", body.join(",\n"), unit.repeat(depth))
}

/// `[` elements `]` at `depth`.
fn array(elements: &[String], unit: &str, depth: usize) -> String {
    let pad = unit.repeat(depth + 1);
    let body: Vec<String> = elements.iter().map(|e| format!("{pad}{e}")).collect();
    format!("[\n{}\n{}]", body.join(",\n"), unit.repeat(depth))
}

/// Merge dev-prism's hook entries into `existing` (the file's text, `None`
/// when there is none). An error means the file is not what Claude Code
/// reads (invalid JSON, not an object): it is left alone.
pub fn merge(existing: Option<&str>) -> Result<Merged> {
    let text = existing.unwrap_or("");
    let blank = text.trim().is_empty();
    let unit = indent_unit(text);
    let top: Ordered = if blank {
        Ordered(Vec::new())
    } else {
        serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{PATH} is not a JSON object ({e}): fix it, then run again; it was not changed"
            )
        })?
    };
    let hooks_at = top.0.iter().position(|(k, _)| k == "hooks");
    let hooks: Ordered = match hooks_at {
        Some(i) => serde_json::from_str(top.0[i].1.get()).map_err(|_| {
            anyhow::anyhow!(
                "`hooks` in {PATH} is not an object: fix it, then run again; it was not changed"
            )
        })?,
        None => Ordered(Vec::new()),
    };

    let mut added = Vec::new();
    let mut warnings = Vec::new();
    let mut members: Vec<(String, String)> = hooks
        .0
        .iter()
        .map(|(k, v)| (k.clone(), v.get().to_string()))
        .collect();
    for (event, command) in HOOKS {
        let at = hooks.0.iter().position(|(k, _)| k == event);
        let raw: Vec<Box<RawValue>> = match at {
            Some(i) => serde_json::from_str(hooks.0[i].1.get()).map_err(|_| {
                anyhow::anyhow!("`hooks.{event}` in {PATH} is not an array: fix it, then run again; it was not changed")
            })?,
            None => Vec::new(),
        };
        let values: Vec<Value> = raw
            .iter()
            .filter_map(|r| serde_json::from_str(r.get()).ok())
            .collect();
        let present = commands(&values);
        if present.iter().any(|c| is_ours(c, command)) {
            continue;
        }
        if let Some(other) = present.first() {
            warnings.push(format!(
                "{PATH} already has a {event} hook (`{other}`): left as it is; Claude Code would run both, so remove it and run `dev-prism claude` again to use dev-prism's"
            ));
            continue;
        }
        let mut elements: Vec<String> = raw.iter().map(|r| r.get().to_string()).collect();
        elements.push(entry_text(command, &unit, 3));
        let text = array(&elements, &unit, 2);
        match at {
            Some(i) => members[i].1 = text,
            None => members.push((event.to_string(), text)),
        }
        added.push(event);
    }
    if added.is_empty() {
        return Ok(Merged {
            text: None,
            added,
            warnings,
        });
    }
    let hooks_text = object(&members, &unit, 1);
    let mut top_members: Vec<(String, String)> = top
        .0
        .iter()
        .map(|(k, v)| (k.clone(), v.get().to_string()))
        .collect();
    match hooks_at {
        Some(i) => top_members[i].1 = hooks_text,
        None => top_members.push(("hooks".into(), hooks_text)),
    }
    let mut out = object(&top_members, &unit, 0);
    if blank || text.ends_with('\n') {
        out.push('\n');
    }
    Ok(Merged {
        text: Some(out),
        added,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(command: &str) -> Value {
        json!({"hooks": [{"type": "command", "command": command}]})
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_new_file_gets_both_entries() {
        let m = merge(None).unwrap();
        let text = m.text.unwrap();
        assert_eq!(
            parsed(&text),
            json!({"hooks": {
                "WorktreeCreate": [{"hooks": [{"type": "command", "command": CREATE_COMMAND}]}],
                "WorktreeRemove": [{"hooks": [{"type": "command", "command": REMOVE_COMMAND}]}]
            }})
        );
        assert!(
            text.starts_with("{\n  \"hooks\": {\n    \"WorktreeCreate\": [\n      {\n"),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        assert_eq!(m.added, ["WorktreeCreate", "WorktreeRemove"]);
        // twice: nothing changes
        assert_eq!(merge(Some(&text)).unwrap().text, None);
    }

    /// What `JSON.stringify(settings, null, 2)` writes.
    const USER: &str = r#"{
  "permissions": {
    "allow": [
      "Bash(npm test:*)"
    ],
    "deny": []
  },
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Edit",
        "hooks": [
          {
            "type": "command",
            "command": "prettier --write \"$FILE\""
          }
        ]
      }
    ]
  },
  "model": "opus",
  "z-last": {"compact": [1,2]}
}
"#;

    #[test]
    fn keeps_every_other_byte_of_a_user_file() {
        let text = merge(Some(USER)).unwrap().text.unwrap();
        let mut want = parsed(USER);
        want["hooks"]["WorktreeCreate"] = json!([entry(CREATE_COMMAND)]);
        want["hooks"]["WorktreeRemove"] = json!([entry(REMOVE_COMMAND)]);
        assert_eq!(parsed(&text), want);
        // the user's text is still there, byte for byte, in its order
        let (before, after) = USER.split_once("    ]\n  },\n  \"model\"").unwrap();
        assert!(text.starts_with(before), "{text}");
        assert!(text.ends_with(&format!("  \"model\"{after}")), "{text}");
        assert!(text.contains(
            "    \"WorktreeRemove\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"dev-prism hook worktree-remove\"\n          }\n        ]\n      }\n    ]\n  },\n  \"model\""
        ), "{text}");
        assert_eq!(merge(Some(&text)).unwrap().text, None, "idempotent");
    }

    #[test]
    fn appends_to_an_event_array_and_follows_the_indent() {
        let user = "{\n\t\"hooks\": {\n\t\t\"WorktreeRemove\": [\n\t\t\t{\"hooks\": [{\"type\": \"command\", \"command\": \"/opt/bin/dev-prism -q hook worktree-remove\"}]}\n\t\t]\n\t}\n}";
        let m = merge(Some(user)).unwrap();
        assert_eq!(m.added, ["WorktreeCreate"]);
        let text = m.text.unwrap();
        assert!(
            text.contains("\n\t\t\"WorktreeCreate\": [\n\t\t\t{\n\t\t\t\t\"hooks\""),
            "{text}"
        );
        assert!(!text.ends_with('\n'));
        let v = parsed(&text);
        assert_eq!(v["hooks"]["WorktreeRemove"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn another_create_hook_is_left_alone_with_a_warning() {
        let user = r#"{"hooks": {"WorktreeCreate": [{"hooks": [{"type": "command", "command": "scripts/make-worktree.sh"}]}]}}"#;
        let m = merge(Some(user)).unwrap();
        assert_eq!(m.added, ["WorktreeRemove"]);
        assert_eq!(m.warnings.len(), 1);
        assert!(
            m.warnings[0].contains("scripts/make-worktree.sh"),
            "{:?}",
            m.warnings
        );
        let v = parsed(&m.text.unwrap());
        assert_eq!(
            v["hooks"]["WorktreeCreate"][0]["hooks"][0]["command"],
            "scripts/make-worktree.sh"
        );
    }

    #[test]
    fn broken_files_are_refused() {
        for bad in [
            "{",
            "[]",
            "{\"hooks\": []}",
            "{\"hooks\": {\"WorktreeCreate\": {}}}",
        ] {
            assert!(merge(Some(bad)).is_err(), "{bad}");
        }
        assert!(merge(Some("  \n")).unwrap().text.is_some());
    }
}
