//! Round-trip properties over random derivations, arbitrary bytes included.

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

use super::*;
use crate::content_address::FileIngestionMethod;
use crate::hash::{Hash, HashAlgo};
use crate::nix32;

fn store_path() -> impl Strategy<Value = StorePath> {
    let hash = vec(prop::sample::select(nix32::ALPHABET.to_vec()), 32);
    (hash, "[a-z0-9][a-zA-Z0-9+._?=-]{0,15}").prop_map(|(h, name)| {
        let base = format!("{}-{name}", String::from_utf8(h).expect("ascii"));
        StorePath::from_base_name(&base).expect("valid by construction")
    })
}

/// Bytes with the ones that need escaping over-represented.
fn bytes() -> impl Strategy<Value = BString> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        1 => prop::sample::select(b"\"\\\n\r\t,()[]".to_vec()),
    ];
    vec(byte, 0..12).prop_map(BString::from)
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["out", "dev", "lib", "bin", "man"]).prop_map(str::to_owned),
        1 => vec(any::<char>(), 0..6).prop_map(String::from_iter),
        1 => vec(prop::sample::select(vec!['"', '\\', 'a', '\n']), 0..4).prop_map(String::from_iter),
    ]
}

fn method() -> impl Strategy<Value = FileIngestionMethod> {
    prop::sample::select(vec![
        FileIngestionMethod::Flat,
        FileIngestionMethod::Recursive,
    ])
}

fn algo() -> impl Strategy<Value = HashAlgo> {
    prop::sample::select(HashAlgo::ALL.to_vec())
}

fn output() -> impl Strategy<Value = DerivationOutput> {
    prop_oneof![
        store_path().prop_map(DerivationOutput::InputAddressed),
        (method(), algo(), vec(any::<u8>(), 0..8), store_path()).prop_map(
            |(method, algo, data, path)| {
                DerivationOutput::CAFixed {
                    hash: FixedOutputHash {
                        method,
                        hash: Hash::of_bytes(algo, &data),
                    },
                    path,
                }
            }
        ),
        (method(), algo()).prop_map(|(method, algo)| DerivationOutput::CAFloating { method, algo }),
        Just(DerivationOutput::Deferred),
        (method(), algo()).prop_map(|(method, algo)| DerivationOutput::Impure { method, algo }),
    ]
}

fn derivation() -> impl Strategy<Value = Derivation> {
    (
        btree_map(name(), output(), 0..4),
        btree_map(store_path(), btree_set(name(), 0..3), 0..3),
        btree_set(store_path(), 0..3),
        (bytes(), bytes(), vec(bytes(), 0..4)),
        btree_map(bytes(), bytes(), 0..6),
    )
        .prop_map(
            |(outputs, input_drvs, input_srcs, (platform, builder, args), env)| Derivation {
                outputs,
                input_drvs,
                input_srcs,
                platform,
                builder,
                args,
                env,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_parse_print(drv in derivation()) {
        let text = drv.to_aterm(&sd());
        let back = Derivation::from_aterm(&text, &sd())
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", text.escape_ascii())))?;
        prop_assert_eq!(&back, &drv);
        prop_assert_eq!(back.to_aterm(&sd()), text);
    }

    #[test]
    fn mutated_text_is_refused_or_reprinted_exactly(
        drv in derivation(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut text = drv.to_aterm(&sd());
        for (at, byte, op) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 if i < text.len() => text[i] = byte,
                1 => text.insert(i, byte),
                _ if i < text.len() => { text.remove(i); }
                _ => {}
            }
        }
        crate::fuzzing::aterm(&text);
    }

    #[test]
    fn hash_modulo_does_not_panic(drv in derivation(), mask in any::<bool>()) {
        let mut resolve = |_: &StorePath| Ok::<_, UnknownDerivation>(DrvHash {
            hashes: BTreeMap::from([("out".to_owned(), Hash::sha256(b"x"))]),
            kind: DrvHashKind::Regular,
        });
        if let Ok(h) = drv.hash_modulo(&sd(), mask, &mut resolve) {
            prop_assert_eq!(h.hashes.len(), drv.outputs.len());
            let _ = drv.output_paths(&sd(), "name", &h);
        }
    }
}
