//! CID vectors from `shared/reference/ipfs-unixfs-bitswap.md` §1.7 and the
//! IPIP-499 fixtures of §1.8 (the `unixfs-v1-2025` rows).

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};

use super::*;

fn keystream(seed: &str) -> ChaCha20 {
    let key: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
    ChaCha20::new(&key.into(), &[0u8; 12].into())
}

/// `size` bytes of the fixture generator's stream, fed in 1 MiB pieces.
fn det_file(size: usize, seed: &str) -> String {
    let mut c = keystream(seed);
    let mut sink = NullSink::default();
    let mut f = FileBuilder::new(false);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len());
        buf[..n].fill(0);
        c.apply_keystream(&mut buf[..n]);
        f.write(&buf[..n], &mut sink).expect("null sink");
        left -= n;
    }
    f.finish(&mut sink).expect("null sink").cid.to_string()
}

fn det_dir(n: usize, len: usize, last_len: usize, seed: &str) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz01234567890-_";
    let mut c = keystream(seed);
    let mut sink = NullSink::default();
    let x = file(b"x", false, &mut sink).expect("null sink");
    let mut d = DirBuilder::new();
    for i in 0..n {
        let mut name = vec![0u8; if i == n - 1 { last_len } else { len }];
        c.apply_keystream(&mut name);
        d.add(
            name.iter()
                .map(|b| ALPHA[usize::from(*b) % ALPHA.len()])
                .collect(),
            x,
        );
    }
    d.finish(&mut sink).expect("dir").cid.to_string()
}

fn cid_of_file(bytes: &[u8]) -> String {
    file(bytes, false, &mut NullSink::default())
        .expect("null sink")
        .cid
        .to_string()
}

#[test]
fn small_vectors() {
    assert_eq!(
        cid_of_file(b""),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
    assert_eq!(
        cid_of_file(b"hello\n"),
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
    assert_eq!(
        cid_of_file(b"hello world"),
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    );
    let seq = |n: usize, k: usize| -> Vec<u8> { (0..n).map(|i| ((k * i) % 251) as u8).collect() };
    assert_eq!(
        cid_of_file(&seq(787432, 7)),
        "bafkreifmx3rzbxie6yovt3yk5v23pd3kr6amoauwbsmnwb6xwovg3cygra"
    );
    assert_eq!(
        cid_of_file(&seq(1 << 20, 13)),
        "bafkreiekmdl4fqigob6kiiifje4icrubkeyw3rf22szhs24h6m3ji5262y"
    );
    assert_eq!(
        cid_of_file(&vec![0u8; 1 << 20]),
        "bafkreibq4fevl27rgurgnxbp7adh42aqiyd6ouflxhj3gzmcxcxzbh6lla"
    );
}

#[test]
fn directories_and_symlinks() {
    let mut sink = MemorySink::default();
    let empty = DirBuilder::new().finish(&mut sink).expect("dir");
    assert_eq!(
        empty.cid.to_string(),
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    );
    let mut sub = DirBuilder::new();
    sub.add(b"x".to_vec(), file(b"x", false, &mut sink).expect("x"));
    let sub = sub.finish(&mut sink).expect("sub");
    assert_eq!(
        sub.cid.to_string(),
        "bafybeigcwyimnf5oq25wvo4q62cg4pwkdoelvusved4eyx6ibnl2qkottu"
    );
    let mut dir1 = DirBuilder::new();
    dir1.add(b"sub".to_vec(), sub);
    dir1.add(
        b"hello".to_vec(),
        file(b"hello\n", false, &mut sink).expect("hello"),
    );
    assert_eq!(
        dir1.finish(&mut sink).expect("dir1").cid.to_string(),
        "bafybeiazi47g3k7rrtzgwmzdqaia7io5znsqgemuhw4l7i3kgwc6kxe77u"
    );
    let link = symlink(b"foo", &mut sink).expect("symlink");
    assert_eq!(
        sink.blocks[&link.cid],
        [0x0a, 0x07, 0x08, 0x04, 0x12, 0x03, b'f', b'o', b'o']
    );
    let mut dup = DirBuilder::new();
    dup.add(b"a".to_vec(), link);
    dup.add(b"a".to_vec(), link);
    assert!(matches!(dup.finish(&mut sink), Err(DirError::Duplicate(_))));
}

#[test]
fn mode_makes_a_dag_pb_root() {
    let mut sink = NullSink::default();
    let mut f = FileBuilder::with_mode(Some(0o755));
    f.write(b"hello\n", &mut sink).expect("write");
    assert_eq!(
        f.finish(&mut sink).expect("finish").cid.to_string(),
        "bafybeigci6lwb2rb6tv4ld2a6i27wpesmp2kprahfzauwbcvtqgb2iqmmi"
    );
}

#[test]
fn ipip499_file_fixtures() {
    assert_eq!(
        det_file(1 << 20, "chunk-v1-seed"),
        "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"
    );
    assert_eq!(
        det_file((1 << 20) + 1, "chunk-v1-seed"),
        "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"
    );
}

#[test]
fn ipip499_max_links_fixtures() {
    assert_eq!(
        det_file(1024 << 20, "v1-2025-seed"),
        "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm"
    );
    assert_eq!(
        det_file((1024 << 20) + 1, "v1-2025-seed"),
        "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe"
    );
}

#[test]
fn ipip499_directory_fixtures() {
    assert_eq!(
        det_dir(4766, 11, 21, "hamt-unixfs-v1-2025"),
        "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4"
    );
    assert_eq!(
        det_dir(4766, 11, 22, "hamt-unixfs-v1-2025"),
        "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu"
    );
}
