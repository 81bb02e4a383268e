//! Decompression by content, as Nix's `makeDecompressionSink` does with
//! libarchive: the format is recognised from the first bytes; data in no
//! known format passes through unchanged.

use std::io::{self, BufReader, Cursor, Read, Write};

/// Enough bytes to recognise every format below.
const PREFIX: usize = 10;

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Xz,
    /// Recognised, but no decoder is linked.
    Unsupported(&'static str),
}

pub(crate) fn detect(prefix: &[u8]) -> Compression {
    const BZIP2_BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    const BZIP2_END: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
    match prefix {
        [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [b'B', b'Z', b'h', level, rest @ ..]
            if (b'1'..=b'9').contains(level)
                && (rest.starts_with(&BZIP2_BLOCK) || rest.starts_with(&BZIP2_END)) =>
        {
            Compression::Unsupported("bzip2")
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Unsupported("zstd"),
        [b'L', b'Z', b'I', b'P', ..] => Compression::Unsupported("lzip"),
        [0x04, 0x22, 0x4d, 0x18, ..] => Compression::Unsupported("lz4"),
        [0x1f, 0x9d, ..] => Compression::Unsupported("compress"),
        _ => Compression::None,
    }
}

/// Copies `src` to `sink`, decompressing it if its first bytes say how.
pub(crate) fn copy_decoded(mut src: impl Read, sink: &mut impl Write) -> io::Result<()> {
    let mut prefix = Vec::with_capacity(PREFIX);
    (&mut src).take(PREFIX as u64).read_to_end(&mut prefix)?;
    let compression = detect(&prefix);
    let mut whole = Cursor::new(prefix).chain(src);
    match compression {
        Compression::None => io::copy(&mut whole, sink).map(drop),
        Compression::Gzip => {
            io::copy(&mut flate2::read::MultiGzDecoder::new(whole), sink).map(drop)
        }
        Compression::Xz => {
            lzma_rs::xz_decompress(&mut BufReader::new(whole), sink).map_err(|e| match e {
                lzma_rs::error::Error::IoError(io) => io,
                other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
            })
        }
        Compression::Unsupported(name) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{name} decompression is not supported by this daemon"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        copy_decoded(data, &mut out)?;
        Ok(out)
    }

    #[test]
    fn plain_data_passes_through() {
        assert_eq!(decoded(b"hi").expect("plain"), b"hi");
        assert_eq!(decoded(b"").expect("empty"), b"");
        assert_eq!(decoded(b"BZh9 not bzip2").expect("text"), b"BZh9 not bzip2");
    }

    #[test]
    fn gzip_and_xz_are_recognised() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gzipped data").expect("compress");
        let gz = gz.finish().expect("compress");
        assert_eq!(decoded(&gz).expect("gunzip"), b"gzipped data");

        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &b"xz data"[..], &mut xz).expect("compress");
        assert_eq!(detect(&xz), Compression::Xz);
        assert_eq!(decoded(&xz).expect("unxz"), b"xz data");

        assert!(decoded(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]).is_err());
    }
}
