//! Store paths Nix computed for `nix-store --add`, `--add-fixed` and
//! `builtins.toFile`, recomputed from the same content.

use std::collections::BTreeSet;

use nix_formats::content_address::FileIngestionMethod;
use nix_formats::hash::{Hash, HashAlgo};
use nix_formats::store_path::{StoreDir, StorePath};

use crate::{fixtures, read, tsv};

#[test]
fn added_paths() {
    let dir = StoreDir::default();
    let rows = tsv("add.tsv");
    for row in &rows {
        let [name, method, algo, want] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let nar = read(format!("nar/{name}.nar"));
        let path = match method.as_str() {
            "source" => dir.make_fixed_output_path(
                name,
                FileIngestionMethod::Recursive,
                &Hash::sha256(&nar),
                &BTreeSet::new(),
                false,
            ),
            "flat" | "recursive" => {
                let algo: HashAlgo = algo.parse().expect("algo");
                let (m, data) = if method == "flat" {
                    (FileIngestionMethod::Flat, read(format!("trees/{name}")))
                } else {
                    (FileIngestionMethod::Recursive, nar)
                };
                dir.make_fixed_output_path(
                    name,
                    m,
                    &Hash::of_bytes(algo, &data),
                    &BTreeSet::new(),
                    false,
                )
            }
            other => panic!("method {other}"),
        }
        .expect("path");
        assert_eq!(&dir.display(&path), want, "{name} {method} {algo}");
        assert_eq!(dir.parse_path(want).expect("Nix's path parses"), path);
    }
    assert!(rows.len() >= 30, "only {} add vectors", rows.len());
}

#[test]
fn to_file_text_paths() {
    let dir = StoreDir::default();
    let text = std::fs::read_to_string(fixtures().join("tofile.json")).expect("tofile.json");
    // Minimal reading of the generator's JSON: [{content, name, path, refs}, …].
    let items = json_objects(&text);
    assert_eq!(items.len(), 4);
    for item in items {
        let refs: BTreeSet<StorePath> = item
            .refs
            .iter()
            .map(|r| dir.parse_path(r).expect("ref"))
            .collect();
        let p = dir
            .make_text_path(&item.name, &Hash::sha256(item.content.as_bytes()), &refs)
            .expect("text path");
        assert_eq!(dir.display(&p), item.path, "toFile {}", item.name);
    }
}

struct ToFile {
    name: String,
    content: String,
    path: String,
    refs: Vec<String>,
}

/// Reads the flat JSON that `tofile.nix` produces (strings with `\n` and
/// `\"` escapes only), enough for this one fixture.
fn json_objects(text: &str) -> Vec<ToFile> {
    let mut out = Vec::new();
    for obj in text.split("},{") {
        let field = |key: &str| -> String {
            let start = obj
                .find(&format!("\"{key}\":\""))
                .map(|i| i + key.len() + 4)
                .expect(key);
            let mut s = String::new();
            let mut chars = obj[start..].chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some(o) => s.push(o),
                        None => break,
                    },
                    c => s.push(c),
                }
            }
            s
        };
        let refs_start = obj.find("\"refs\":[").expect("refs") + 8;
        let refs_end = refs_start + obj[refs_start..].find(']').expect("refs end");
        let refs = obj[refs_start..refs_end]
            .split(',')
            .map(|r| r.trim_matches('"').to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        out.push(ToFile {
            name: field("name"),
            content: field("content"),
            path: field("path"),
            refs,
        });
    }
    out
}
