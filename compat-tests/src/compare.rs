//! `compare(reference, ours)`: `None` when the outcomes are identical,
//! otherwise a diff that names each differing field by its path.

use std::fmt;

use serde_json::Value;

use crate::outcome::Outcome;

/// One differing field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where, e.g. `commands[1](build).exit` or
    /// `store.paths["/nix/store/…-t"].nar_hash`.
    pub at: String,
    /// The reference's value (`None`: absent there).
    pub reference: Option<String>,
    /// Ours (`None`: absent there).
    pub ours: Option<String>,
}

/// All differences between two outcomes, with the names of the two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Name of the left side (usually `reference`).
    pub left: String,
    /// Name of the right side (`ours`, or `reference (2nd run)`).
    pub right: String,
    /// The differences, in field order.
    pub differences: Vec<Difference>,
}

/// Compare two outcomes; `left`/`right` name the sides in the diff.
pub fn compare(reference: &Outcome, ours: &Outcome) -> Option<Diff> {
    compare_named(reference, "reference", ours, "ours")
}

/// `compare` with chosen side names.
pub fn compare_named(left: &Outcome, lname: &str, right: &Outcome, rname: &str) -> Option<Diff> {
    if left == right {
        return None;
    }
    let l = serde_json::to_value(left).expect("outcomes are plain data");
    let r = serde_json::to_value(right).expect("outcomes are plain data");
    let mut differences = Vec::new();
    walk(String::new(), &l, &r, &mut differences);
    Some(Diff {
        left: lname.to_owned(),
        right: rname.to_owned(),
        differences,
    })
}

fn walk(at: String, l: &Value, r: &Value, out: &mut Vec<Difference>) {
    match (l, r) {
        (Value::Object(lm), Value::Object(rm)) => {
            let mut keys: Vec<&String> = lm.keys().chain(rm.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = join_key(&at, key);
                match (lm.get(key), rm.get(key)) {
                    (Some(a), Some(b)) => walk(sub, a, b, out),
                    (a, b) => out.push(Difference {
                        at: sub,
                        reference: a.map(show),
                        ours: b.map(show),
                    }),
                }
            }
        }
        (Value::Array(la), Value::Array(ra)) => {
            for i in 0..la.len().max(ra.len()) {
                let label = la.get(i).or(ra.get(i)).and_then(step_label);
                let sub = match label {
                    Some(name) => format!("{at}[{i}]({name})"),
                    None => format!("{at}[{i}]"),
                };
                match (la.get(i), ra.get(i)) {
                    (Some(a), Some(b)) => walk(sub, a, b, out),
                    (a, b) => out.push(Difference {
                        at: sub,
                        reference: a.map(show),
                        ours: b.map(show),
                    }),
                }
            }
        }
        _ if l == r => {}
        _ => out.push(Difference {
            at,
            reference: Some(show(l)),
            ours: Some(show(r)),
        }),
    }
}

fn step_label(v: &Value) -> Option<String> {
    v.get("step").and_then(Value::as_str).map(str::to_owned)
}

fn join_key(at: &str, key: &str) -> String {
    let plain = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (at.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{at}.{key}"),
        (_, false) => format!("{at}[{key:?}]"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s.contains('\n') => {
            format!("\n      | {}", s.replace('\n', "\n      | "))
        }
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} and {} differ in {} place(s):",
            self.left,
            self.right,
            self.differences.len()
        )?;
        let width = self.left.len().max(self.right.len());
        for d in &self.differences {
            writeln!(f, "  {}", d.at)?;
            let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
            writeln!(f, "    {:width$}: {}", self.left, side(&d.reference))?;
            writeln!(f, "    {:width$}: {}", self.right, side(&d.ours))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::outcome::{CommandOutcome, StoreState};

    fn outcome(exit: i32) -> Outcome {
        Outcome {
            commands: vec![CommandOutcome {
                step: "build".into(),
                exit,
                stdout: "/nix/store/x-t\n".into(),
                stderr: vec![],
            }],
            store: StoreState {
                paths: BTreeMap::new(),
                unregistered_entries: vec![],
                missing_entries: vec![],
                result_links: BTreeMap::new(),
                roots: vec![],
            },
        }
    }

    #[test]
    fn identical_outcomes_have_no_diff() {
        assert_eq!(compare(&outcome(0), &outcome(0)), None);
    }

    #[test]
    fn a_changed_exit_code_is_named_by_step() {
        let diff = compare(&outcome(0), &outcome(100)).expect("exit codes differ");
        assert_eq!(diff.differences.len(), 1);
        assert_eq!(diff.differences[0].at, "commands[0](build).exit");
        let text = diff.to_string();
        assert!(text.contains("reference: 0"), "{text}");
        assert!(text.contains("ours     : 100"), "{text}");
    }

    #[test]
    fn a_missing_store_path_is_shown_once() {
        let a = outcome(0);
        let mut b = outcome(0);
        b.store
            .result_links
            .insert("result".into(), "/nix/store/x-t".into());
        let diff = compare(&a, &b).expect("links differ");
        assert_eq!(diff.differences.len(), 1);
        assert_eq!(diff.differences[0].at, "store.result_links.result");
        assert_eq!(diff.differences[0].reference, None);
    }
}
