//! Structured attributes (`__json`): `.attrs.json` and `.attrs.sh`, as Nix
//! 2.8's `prepareStructuredAttrs` and `writeStructuredAttrsShell` make them.

use nix_formats::derivation::Derivation;
use serde_json::{Map, Value};

use super::{BuildDirFile, EnvError, ReferencesGraph, Rewrites, hash_placeholder};

/// The parsed `__json` attribute, if the derivation has one.
pub(super) fn parse(drv: &Derivation) -> Result<Option<Map<String, Value>>, EnvError> {
    let Some(json) = drv.env_var("__json") else {
        return Ok(None);
    };
    match serde_json::from_slice(json).map_err(EnvError::BadJson)? {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(EnvError::JsonNotObject),
    }
}

/// The two files, with `outputs` added (placeholders replaced by the
/// output paths) and `exportReferencesGraph` entries answered by `refs`.
pub(super) fn write(
    mut attrs: Map<String, Value>,
    drv: &Derivation,
    rewrites: &Rewrites,
    refs: Option<&dyn ReferencesGraph>,
) -> Result<Vec<BuildDirFile>, EnvError> {
    let outputs: Map<String, Value> = drv
        .outputs
        .keys()
        .map(|name| {
            let p = rewrites.apply(hash_placeholder(name).as_bytes());
            (
                name.clone(),
                Value::String(String::from_utf8_lossy(&p).into_owned()),
            )
        })
        .collect();
    attrs.insert("outputs".to_owned(), Value::Object(outputs));

    if let Some(Value::Object(graph)) = attrs.get("exportReferencesGraph").cloned() {
        for (key, paths) in graph {
            let paths: Vec<String> = match paths {
                Value::Array(items) => items
                    .into_iter()
                    .map(|p| match p {
                        Value::String(s) => Ok(s),
                        _ => Err(EnvError::NotStrings("exportReferencesGraph".to_owned())),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(EnvError::NotStrings("exportReferencesGraph".to_owned())),
            };
            let refs = refs.ok_or(EnvError::NoReferencesGraph)?;
            let info =
                refs.path_info_json(&paths)
                    .map_err(|message| EnvError::ReferencesGraph {
                        path: paths.join(" "),
                        message,
                    })?;
            attrs.insert(key, info);
        }
    }

    let json = Value::Object(attrs);
    let sh = shell(&json);
    Ok(vec![
        BuildDirFile {
            name: ".attrs.sh".to_owned(),
            contents: rewrites.apply(sh.as_bytes()),
            owned_by_builder: true,
        },
        BuildDirFile {
            name: ".attrs.json".to_owned(),
            contents: rewrites.apply(json.to_string().as_bytes()),
            owned_by_builder: true,
        },
    ])
}

/// Nix's `writeStructuredAttrsShell`: every top-level attribute whose name
/// is a shell variable name and whose value is a string, integral number,
/// null or Boolean becomes `declare`, arrays and objects of those become
/// `declare -a` / `declare -A`; anything else is left out.
pub(crate) fn shell(json: &Value) -> String {
    let mut out = String::new();
    let Value::Object(map) = json else {
        return out;
    };
    for (key, value) in map {
        if !is_sh_var_name(key) {
            continue;
        }
        if let Some(s) = simple(value) {
            out.push_str(&format!("declare {key}={s}\n"));
            continue;
        }
        match value {
            Value::Array(items) => {
                let parts: Option<Vec<String>> = items.iter().map(simple).collect();
                if let Some(parts) = parts {
                    let body: String = parts.iter().map(|p| format!("{p} ")).collect();
                    out.push_str(&format!("declare -a {key}=({body})\n"));
                }
            }
            Value::Object(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|(k, v)| simple(v).map(|s| format!("[{}]={s} ", shell_escape(k))))
                    .collect();
                if let Some(parts) = parts {
                    out.push_str(&format!("declare -A {key}=({})\n", parts.concat()));
                }
            }
            _ => {}
        }
    }
    out
}

/// `handleSimpleType`. Numbers follow the C++: the value is converted to
/// `float`, and if that is integral the value is printed as an `int`.
fn simple(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(shell_escape(s)),
        Value::Number(n) => {
            let f = n.as_f64()? as f32;
            if f.ceil() != f {
                return None;
            }
            let i = if let Some(i) = n.as_i64() {
                i as i32
            } else if let Some(u) = n.as_u64() {
                u as i32
            } else {
                n.as_f64()? as i32
            };
            Some(i.to_string())
        }
        Value::Null => Some("''".to_owned()),
        Value::Bool(b) => Some(if *b { "1" } else { "" }.to_owned()),
        _ => None,
    }
}

/// Nix's `shellEscape`: single quotes, `'` written as `'\''`.
fn shell_escape(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_sh_var_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}
