//! The ATerm writer, byte-exact with Nix 2.8's `Derivation::unparse`.

use std::collections::{BTreeMap, BTreeSet};

use super::grammar::{
    self, BACKSLASH, COMMA, Field, LIST_CLOSE, LIST_OPEN, QUOTE, TUPLE_CLOSE, TUPLE_OPEN,
};
use super::model::Derivation;
use crate::store_path::StoreDir;

/// Input derivations keyed by the hex of their hash modulo, as
/// `hashDerivationModulo` prints them in place of the paths.
pub type ReplacedInputs = BTreeMap<String, BTreeSet<String>>;

/// Which variant of the text to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    /// Blank every output path, and every environment variable named like an
    /// output, to `""` (the text a derivation's own output paths hash).
    pub mask_outputs: bool,
    /// Write these instead of the input derivation paths.
    pub replaced_inputs: Option<&'a ReplacedInputs>,
}

impl Derivation {
    /// The `.drv` text.
    pub fn to_aterm(&self, store_dir: &StoreDir) -> Vec<u8> {
        self.to_aterm_with(store_dir, WriteOptions::default())
    }

    /// One of the variants of the text ([`WriteOptions`]).
    pub fn to_aterm_with(&self, store_dir: &StoreDir, opts: WriteOptions<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        self.write_aterm(store_dir, opts, &mut out);
        out
    }

    /// Appends the text to `out`.
    pub fn write_aterm(&self, store_dir: &StoreDir, opts: WriteOptions<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(grammar::DERIVE);

        list(out, &self.outputs, |out, (name, output)| {
            let fields = output.fields(store_dir);
            let masked = |s: &str| if opts.mask_outputs { "" } else { s }.to_owned();
            tuple(
                out,
                &[
                    name.as_str(),
                    &masked(&fields.path),
                    &fields.hash_algo,
                    &fields.hash,
                ],
            );
        });
        out.push(COMMA);

        match opts.replaced_inputs {
            Some(inputs) => list(out, inputs, |out, (key, outputs)| {
                input_drv(out, key, outputs)
            }),
            None => list(out, &self.input_drvs, |out, (path, outputs)| {
                input_drv(out, &store_dir.display(path), outputs);
            }),
        }
        out.push(COMMA);

        list(out, &self.input_srcs, |out, path| {
            string(out, Field::Raw, store_dir.display(path).as_bytes())
        });
        out.push(COMMA);
        string(out, Field::Raw, &self.platform);
        out.push(COMMA);
        string(out, Field::Escaped, &self.builder);
        out.push(COMMA);
        list(out, &self.args, |out, arg| string(out, Field::Escaped, arg));
        out.push(COMMA);

        list(out, &self.env, |out, (key, value)| {
            let blank =
                opts.mask_outputs && key.to_str().is_some_and(|k| self.outputs.contains_key(k));
            out.push(TUPLE_OPEN);
            string(out, Field::Escaped, key);
            out.push(COMMA);
            string(out, Field::Escaped, if blank { b"" } else { value });
            out.push(TUPLE_CLOSE);
        });
        out.push(TUPLE_CLOSE);
    }
}

fn input_drv(out: &mut Vec<u8>, key: &str, outputs: &BTreeSet<String>) {
    out.push(TUPLE_OPEN);
    string(out, Field::Raw, key.as_bytes());
    out.push(COMMA);
    list(out, outputs, |out, name| {
        string(out, Field::Raw, name.as_bytes())
    });
    out.push(TUPLE_CLOSE);
}

fn tuple(out: &mut Vec<u8>, raw_fields: &[&str]) {
    out.push(TUPLE_OPEN);
    for (i, f) in raw_fields.iter().enumerate() {
        if i > 0 {
            out.push(COMMA);
        }
        string(out, Field::Raw, f.as_bytes());
    }
    out.push(TUPLE_CLOSE);
}

fn list<I: IntoIterator>(out: &mut Vec<u8>, items: I, mut item: impl FnMut(&mut Vec<u8>, I::Item)) {
    out.push(LIST_OPEN);
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(COMMA);
        }
        item(out, x);
    }
    out.push(LIST_CLOSE);
}

fn string(out: &mut Vec<u8>, field: Field, s: &[u8]) {
    out.push(QUOTE);
    for &b in s {
        match grammar::escape(field, b) {
            Some(letter) => out.extend_from_slice(&[BACKSLASH, letter]),
            None => out.push(b),
        }
    }
    out.push(QUOTE);
}
