//! dag-pb nodes and the UnixFS `Data` message: encode (canonical, as Kubo,
//! boxo and the JS importer write them) and decode.

use cid::Cid;

use super::pb::{
    PbError, Reader, Value, bytes_field_len, put_bytes_field, put_uint_field, put_varint,
    varint_len,
};

/// A link of a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    pub cid: Cid,
    /// Raw bytes: UnixFS names are whatever the file system had.
    pub name: Vec<u8>,
    /// Cumulative size of the linked DAG (blocks plus their links' Tsize).
    pub tsize: u64,
}

/// A decoded dag-pb node, borrowing its data from the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbNode<'a> {
    pub links: Vec<PbLink>,
    pub data: Option<&'a [u8]>,
}

/// UnixFS node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Raw = 0,
    Directory = 1,
    File = 2,
    Metadata = 3,
    Symlink = 4,
    HamtShard = 5,
}

impl TryFrom<u64> for DataType {
    type Error = PbError;
    fn try_from(v: u64) -> Result<Self, PbError> {
        Ok(match v {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            other => return Err(PbError::UnknownType(other)),
        })
    }
}

/// The UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnixFsData<'a> {
    pub ty: Option<DataType>,
    pub data: Option<&'a [u8]>,
    pub filesize: Option<u64>,
    pub blocksizes: Vec<u64>,
    pub hash_type: Option<u64>,
    pub fanout: Option<u64>,
    pub mode: Option<u32>,
}

impl<'a> UnixFsData<'a> {
    pub fn of_type(ty: DataType) -> Self {
        UnixFsData {
            ty: Some(ty),
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + self.data.map_or(0, <[u8]>::len) + 10 * self.blocksizes.len());
        if let Some(t) = self.ty {
            put_uint_field(&mut out, 1, t as u64);
        }
        if let Some(d) = self.data {
            put_bytes_field(&mut out, 2, d);
        }
        if let Some(s) = self.filesize {
            put_uint_field(&mut out, 3, s);
        }
        for b in &self.blocksizes {
            put_uint_field(&mut out, 4, *b);
        }
        if let Some(h) = self.hash_type {
            put_uint_field(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            put_uint_field(&mut out, 6, f);
        }
        if let Some(m) = self.mode {
            put_uint_field(&mut out, 7, u64::from(m));
        }
        out
    }

    pub fn decode(buf: &'a [u8]) -> Result<Self, PbError> {
        let mut r = Reader::new(buf);
        let mut d = UnixFsData::default();
        while let Some((field, v)) = r.next_field()? {
            match (field, v) {
                (1, Value::Varint(t)) => d.ty = Some(DataType::try_from(t)?),
                (2, Value::Bytes(b)) => d.data = Some(b),
                (3, Value::Varint(s)) => d.filesize = Some(s),
                (4, Value::Varint(s)) => d.blocksizes.push(s),
                (4, Value::Bytes(packed)) => {
                    // The packed form, accepted when reading.
                    let mut p = Reader::new(packed);
                    while p.offset() < packed.len() {
                        d.blocksizes.push(p.read_varint()?);
                    }
                }
                (5, Value::Varint(h)) => d.hash_type = Some(h),
                (6, Value::Varint(f)) => d.fanout = Some(f),
                (7, Value::Varint(m)) => {
                    d.mode = Some(u32::try_from(m).map_err(|_| PbError::OutOfRange {
                        field: "mode",
                        value: m,
                    })?)
                }
                (8, Value::Bytes(_)) => {} // mtime: not used by Nix store objects
                (f, v) => {
                    return Err(PbError::UnexpectedField {
                        message: "UnixFS Data",
                        field: f,
                        wire_type: wire_type(&v),
                        offset: r.offset(),
                    });
                }
            }
        }
        Ok(d)
    }
}

fn wire_type(v: &Value<'_>) -> u8 {
    match v {
        Value::Varint(_) => 0,
        Value::Fixed64(_) => 1,
        Value::Bytes(_) => 2,
        Value::Fixed32(_) => 5,
    }
}

fn link_body_len(l: &PbLink, cid_len: usize) -> usize {
    bytes_field_len(cid_len) + bytes_field_len(l.name.len()) + 1 + varint_len(l.tsize)
}

/// Exact length of the encoded dag-pb node (used for the HAMT threshold).
pub fn encoded_len(links: &[PbLink], data_len: Option<usize>) -> usize {
    let links: usize = links
        .iter()
        .map(|l| bytes_field_len(link_body_len(l, l.cid.encoded_len())))
        .sum();
    links + data_len.map_or(0, bytes_field_len)
}

/// Encodes a dag-pb node: links in the given order (callers sort), then data.
pub fn encode_node(links: &[PbLink], data: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(links, data.map(<[u8]>::len)));
    let mut cid_bytes = Vec::with_capacity(40);
    for l in links {
        cid_bytes.clear();
        l.cid
            .write_bytes(&mut cid_bytes)
            .expect("writing to a Vec cannot fail");
        put_varint(&mut out, (2 << 3) | 2);
        put_varint(&mut out, link_body_len(l, cid_bytes.len()) as u64);
        put_bytes_field(&mut out, 1, &cid_bytes);
        put_bytes_field(&mut out, 2, &l.name);
        put_uint_field(&mut out, 3, l.tsize);
    }
    if let Some(d) = data {
        put_bytes_field(&mut out, 1, d);
    }
    out
}

/// Decodes a dag-pb node.
pub fn decode_node(buf: &[u8]) -> Result<PbNode<'_>, PbError> {
    let mut r = Reader::new(buf);
    let mut node = PbNode {
        links: Vec::new(),
        data: None,
    };
    while let Some((field, v)) = r.next_field()? {
        match (field, v) {
            (2, Value::Bytes(link)) if node.data.is_none() => node.links.push(decode_link(link)?),
            (1, Value::Bytes(d)) if node.data.is_none() => node.data = Some(d),
            (f, _) if f == 1 || f == 2 => {
                return Err(PbError::NonCanonical {
                    message: "PBNode",
                    field: f,
                    offset: r.offset(),
                });
            }
            (f, v) => {
                return Err(PbError::UnexpectedField {
                    message: "PBNode",
                    field: f,
                    wire_type: wire_type(&v),
                    offset: r.offset(),
                });
            }
        }
    }
    Ok(node)
}

fn decode_link(buf: &[u8]) -> Result<PbLink, PbError> {
    let mut r = Reader::new(buf);
    let (mut cid, mut name, mut tsize) = (None, None, None);
    while let Some((field, v)) = r.next_field()? {
        match (field, v) {
            (1, Value::Bytes(h)) if cid.is_none() => {
                cid = Some(Cid::read_bytes(h).map_err(|_| PbError::Missing {
                    message: "PBLink",
                    field: "valid Hash",
                })?)
            }
            (2, Value::Bytes(n)) if name.is_none() => name = Some(n.to_vec()),
            (3, Value::Varint(t)) if tsize.is_none() => tsize = Some(t),
            (f, v) => {
                return Err(PbError::UnexpectedField {
                    message: "PBLink",
                    field: f,
                    wire_type: wire_type(&v),
                    offset: r.offset(),
                });
            }
        }
    }
    Ok(PbLink {
        cid: cid.ok_or(PbError::Missing {
            message: "PBLink",
            field: "Hash",
        })?,
        name: name.unwrap_or_default(),
        tsize: tsize.unwrap_or(0),
    })
}
