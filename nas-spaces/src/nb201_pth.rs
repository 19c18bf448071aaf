//! Reader of NAS-Bench-201's `NAS-Bench-201-v1_*.pth`, a `torch.save` of
//! `{'meta_archs': [str], 'arch2infos': {index: {'less': ArchResults, 'full': ArchResults}},
//! 'evaluated_indexes': [int]}` (the layout `nas_201_api.NASBench201API` loads; `less` is the
//! 12-epoch schedule, `full` the 200-epoch one, each the same `ArchResults` state dict as a NATS
//! file holds), in either of torch's formats:
//! - legacy: five pickles in a row (magic number, protocol 1001, system info, the object,
//!   storage keys) and then raw storages;
//! - zip (torch >= 1.6): an uncompressed zip whose `<name>/data.pkl` holds the object.
//!
//! The object pickle is streamed ([`crate::nats::stream_pickle`]): each `arch2infos` item is
//! decoded, handed to the caller and freed, so memory stays at about one architecture's record
//! however large the file (the official v1_1 file is 4.7 GB). No code is run and no torch class
//! is needed (the benchmark file holds no tensors).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use nas_core::{Error, Result};

use crate::nats::{NatsArchRecord, PyValue, arch_from_value, stream_pickle};

/// The first pickle of a legacy `torch.save` file: the magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e";

/// Which `torch.save` format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PthFormat {
    /// The legacy `torch.save` format (a pickle followed by the storages).
    Legacy,
    /// The zip format of `torch.save` (PyTorch 1.6 and later).
    Zip,
}

/// The file's format from its first bytes, or `None` when it is not a `torch.save` file.
pub fn format_of(head: &[u8]) -> Option<PthFormat> {
    if head.starts_with(b"PK\x03\x04") {
        Some(PthFormat::Zip)
    } else if head.starts_with(&LEGACY_MAGIC[..head.len().min(LEGACY_MAGIC.len())]) && head.len() >= 4 {
        Some(PthFormat::Legacy)
    } else {
        None
    }
}

/// What the file holds besides the per-architecture records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PthSummary {
    /// The file's format.
    pub format: PthFormat,
    /// `meta_archs`: every architecture string in index order.
    pub archs: Vec<String>,
    /// `evaluated_indexes`, sorted.
    pub evaluated_indexes: Vec<usize>,
    /// How many `arch2infos` items were read.
    pub records: usize,
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::data(path, None, message)
}

/// Reads a NAS-Bench-201 `.pth`, calling `on_arch` with each architecture's record (schedules
/// `"12"` and `"200"`) in file order.
pub fn read_pth(path: &Path, mut on_arch: impl FnMut(NatsArchRecord) -> Result<()>) -> Result<PthSummary> {
    let mut file = File::open(path).map_err(|e| Error::io(path, &e))?;
    let mut head = [0u8; 16];
    let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(path, &e))?;
    let format = format_of(&head[..n])
        .ok_or_else(|| data_error(path, format!("not a torch.save file (starts with {:02x?})", &head[..n.min(8)])))?;
    let (reader, start) = match format {
        PthFormat::Legacy => {
            if head[..n.min(LEGACY_MAGIC.len())] != LEGACY_MAGIC[..n.min(LEGACY_MAGIC.len())] || n < LEGACY_MAGIC.len()
            {
                return Err(data_error(path, "truncated or corrupt legacy torch.save magic number (at byte 0)"));
            }
            file.seek(SeekFrom::Start(LEGACY_MAGIC.len() as u64)).map_err(|e| Error::io(path, &e))?;
            let mut reader = BufReader::with_capacity(1 << 20, file.take(u64::MAX));
            let mut at = LEGACY_MAGIC.len() as u64;
            for what in ["protocol version", "system info"] {
                let mut counting = Counting { inner: &mut reader, n: 0 };
                let v = stream_pickle(&mut counting, at, None)
                    .map_err(|m| data_error(path, format!("{what} pickle: {m}")))?;
                if what == "protocol version" && v.as_i64() != Some(1001) {
                    return Err(data_error(path, format!("torch protocol version is {v:?}, expected 1001")));
                }
                at += counting.n;
            }
            (reader, at)
        }
        PthFormat::Zip => {
            let (offset, size) = zip_entry(&mut file, path, "data.pkl")?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(path, &e))?;
            (BufReader::with_capacity(1 << 20, file.take(size)), offset)
        }
    };
    let mut records = 0usize;
    let mut sink = |key: PyValue, value: PyValue| -> std::result::Result<(), String> {
        let index = key.as_i64().and_then(|i| usize::try_from(i).ok());
        let index = index.ok_or_else(|| format!("arch2infos key is a {}, not an index", key.type_name()))?;
        let at = format!("arch2infos[{index}]");
        let PyValue::Dict(items) = value else {
            return Err(format!("{at} is a {}, expected {{'less': ..., 'full': ...}}", value.type_name()));
        };
        let renamed = items
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                Some("less") => (PyValue::Str("12".into()), v),
                Some("full") => (PyValue::Str("200".into()), v),
                _ => (k, v),
            })
            .collect();
        let record = arch_from_value(&PyValue::Dict(renamed), index, PathBuf::from(&at)).map_err(|e| e.to_string())?;
        records += 1;
        on_arch(record).map_err(|e| e.to_string())
    };
    let root = stream_pickle(reader, start, Some(("arch2infos", &mut sink)))
        .map_err(|m| data_error(path, format!("bad pickle: {m}")))?;
    let root_err = |m: String| data_error(path, m);
    let archs = root
        .get("meta_archs")
        .and_then(PyValue::as_list)
        .ok_or_else(|| root_err("no 'meta_archs' list (not a NAS-Bench-201 file)".into()))?
        .iter()
        .map(|a| {
            a.as_str().map(str::to_owned).ok_or_else(|| root_err(format!("a meta_archs item is a {}", a.type_name())))
        })
        .collect::<Result<Vec<_>>>()?;
    if root.get("arch2infos").is_none() {
        return Err(root_err("no 'arch2infos' (not a NAS-Bench-201 file)".into()));
    }
    let mut evaluated_indexes = match root.get("evaluated_indexes").and_then(PyValue::as_list) {
        Some(list) => list
            .iter()
            .map(|i| {
                i.as_i64()
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| root_err("bad evaluated_indexes item".into()))
            })
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    evaluated_indexes.sort_unstable();
    Ok(PthSummary { format, archs, evaluated_indexes, records })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A reader that counts what it hands out (to give file offsets of later pickles).
struct Counting<'a, R> {
    inner: &'a mut R,
    n: u64,
}

impl<R: std::io::BufRead> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Counting<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.n += amt as u64;
        self.inner.consume(amt);
    }
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The data offset and size of the stored (uncompressed) entry whose name ends in `/{suffix}`
/// (or is `suffix`), from the zip's central directory (zip64 included).
fn zip_entry(file: &mut File, path: &Path, suffix: &str) -> Result<(u64, u64)> {
    let io = |e: std::io::Error| Error::io(path, &e);
    let len = file.metadata().map_err(io)?.len();
    let tail_len = len.min(65_557);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(io)?;
    let eocd =
        (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..i + 4] == *b"PK\x05\x06").ok_or_else(|| {
            data_error(
                path,
                format!("no zip end-of-central-directory record in its {len} bytes: the file is truncated"),
            )
        })?;
    let (mut entries, mut cd_size, mut cd_offset) =
        (le16(&tail, eocd + 10), le32(&tail, eocd + 12), le32(&tail, eocd + 16));
    if entries == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
        let loc = eocd.checked_sub(20).filter(|&l| tail[l..l + 4] == *b"PK\x06\x07");
        let loc = loc.ok_or_else(|| data_error(path, "zip64 end-of-central-directory locator missing"))?;
        let at = le64(&tail, loc + 8);
        let mut rec = [0u8; 56];
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        file.read_exact(&mut rec).map_err(|_| data_error(path, format!("truncated zip64 record (at byte {at})")))?;
        if rec[..4] != *b"PK\x06\x06" {
            return Err(data_error(path, format!("bad zip64 end-of-central-directory record (at byte {at})")));
        }
        (entries, cd_size, cd_offset) = (le64(&rec, 32), le64(&rec, 40), le64(&rec, 48));
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > len) {
        return Err(data_error(
            path,
            format!("zip central directory at byte {cd_offset} runs past the end ({len} bytes)"),
        ));
    }
    file.seek(SeekFrom::Start(cd_offset)).map_err(io)?;
    let mut cd = vec![0u8; cd_size as usize];
    file.read_exact(&mut cd).map_err(io)?;
    let mut at = 0usize;
    for _ in 0..entries {
        if at + 46 > cd.len() || cd[at..at + 4] != *b"PK\x01\x02" {
            return Err(data_error(path, format!("corrupt zip central directory (at byte {})", cd_offset + at as u64)));
        }
        let method = le16(&cd, at + 10);
        let (mut csize, mut usize_, mut local) = (le32(&cd, at + 20), le32(&cd, at + 24), le32(&cd, at + 42));
        let (n, e, c) = (le16(&cd, at + 28) as usize, le16(&cd, at + 30) as usize, le16(&cd, at + 32) as usize);
        if at + 46 + n + e + c > cd.len() {
            return Err(data_error(path, "corrupt zip central directory entry"));
        }
        let name = String::from_utf8_lossy(&cd[at + 46..at + 46 + n]).into_owned();
        let mut x = at + 46 + n;
        while x + 4 <= at + 46 + n + e {
            let (id, size) = (le16(&cd, x), le16(&cd, x + 2) as usize);
            if id == 1 {
                let mut f = x + 4;
                for field in [&mut usize_, &mut csize, &mut local] {
                    if *field == 0xffff_ffff && f + 8 <= x + 4 + size {
                        *field = le64(&cd, f);
                        f += 8;
                    }
                }
            }
            x += 4 + size;
        }
        at += 46 + n + e + c;
        if name != suffix && !name.ends_with(&format!("/{suffix}")) {
            continue;
        }
        if method != 0 || csize != usize_ {
            return Err(data_error(
                path,
                format!("zip entry {name} is compressed (method {method}); torch.save stores it"),
            ));
        }
        let mut lh = [0u8; 30];
        file.seek(SeekFrom::Start(local)).map_err(io)?;
        file.read_exact(&mut lh)
            .map_err(|_| data_error(path, format!("truncated zip local header (at byte {local})")))?;
        if lh[..4] != *b"PK\x03\x04" {
            return Err(data_error(path, format!("bad zip local header for {name} (at byte {local})")));
        }
        let data = local + 30 + le16(&lh, 26) + le16(&lh, 28);
        if data + csize > len {
            return Err(data_error(path, format!("zip entry {name} runs past the end of the file ({len} bytes)")));
        }
        return Ok((data, csize));
    }
    Err(data_error(path, format!("no {suffix} entry in the zip (not a torch.save file)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nats::parse_pickle;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// Streaming hands out exactly the items that decoding the whole pickle finds, and leaves
    /// the rest of the object as it is (with `arch2infos` emptied).
    #[test]
    fn streamed_items_equal_the_whole_decode() {
        let path = fixture("nb201-2-zip.pth");
        let mut file = File::open(&path).unwrap();
        let (offset, size) = zip_entry(&mut file, &path, "data.pkl").unwrap();
        let bytes = std::fs::read(&path).unwrap()[offset as usize..(offset + size) as usize].to_vec();
        let whole = parse_pickle(&bytes).unwrap();
        let mut items = Vec::new();
        let mut sink = |k: PyValue, v: PyValue| -> std::result::Result<(), String> {
            items.push((k, v));
            Ok(())
        };
        let rest = stream_pickle(bytes.as_slice(), 0, Some(("arch2infos", &mut sink))).unwrap();
        assert_eq!(PyValue::Dict(items), *whole.get("arch2infos").unwrap());
        assert_eq!(rest.get("arch2infos"), Some(&PyValue::Dict(vec![])));
        assert_eq!(rest.get("meta_archs"), whole.get("meta_archs"));
        assert_eq!(rest.get("evaluated_indexes"), whole.get("evaluated_indexes"));
    }

    /// The zip fixture rewritten with zip64 fields (as torch writes files over 4 GB, like the
    /// official 4.7 GB one): 0xFFFFFFFF sizes and offset in the central directory, the values in
    /// its zip64 extra field, and a zip64 end-of-central-directory record and locator.
    fn to_zip64(zip: &[u8]) -> Vec<u8> {
        let eocd = zip.len() - 22;
        assert_eq!(zip[eocd..eocd + 4], *b"PK\x05\x06");
        let (entries, cd_size, cd_offset) = (le16(zip, eocd + 10), le32(zip, eocd + 12), le32(zip, eocd + 16));
        let mut out = zip[..cd_offset as usize].to_vec();
        let mut at = cd_offset as usize;
        for _ in 0..entries {
            let (n, e, c) = (le16(zip, at + 28) as usize, le16(zip, at + 30) as usize, le16(zip, at + 32) as usize);
            let mut h = zip[at..at + 46].to_vec();
            let name = &zip[at + 46..at + 46 + n];
            let mut extra = zip[at + 46 + n..at + 46 + n + e].to_vec();
            if name.ends_with(b"/data.pkl") {
                let (csize, usize_, local) = (le32(zip, at + 20), le32(zip, at + 24), le32(zip, at + 42));
                h[20..28].fill(0xff);
                h[42..46].fill(0xff);
                extra.extend([1u8, 0, 24, 0]);
                for v in [usize_, csize, local] {
                    extra.extend(v.to_le_bytes());
                }
                h[30..32].copy_from_slice(&(extra.len() as u16).to_le_bytes());
            }
            out.extend(h);
            out.extend(name);
            out.extend(extra);
            out.extend(&zip[at + 46 + n + e..at + 46 + n + e + c]);
            at += 46 + n + e + c;
        }
        assert_eq!(at as u64, cd_offset + cd_size);
        let new_cd_size = out.len() as u64 - cd_offset;
        let record_at = out.len() as u64;
        out.extend(b"PK\x06\x06");
        out.extend(44u64.to_le_bytes());
        out.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [entries, entries, new_cd_size, cd_offset] {
            out.extend(v.to_le_bytes());
        }
        out.extend(b"PK\x06\x07\0\0\0\0");
        out.extend(record_at.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0");
        out
    }

    #[test]
    fn zip64_files_read_the_same_records() {
        let zip = std::fs::read(fixture("nb201-2-zip.pth")).unwrap();
        let path = std::env::temp_dir().join(format!("nas-pth-{}-zip64.pth", std::process::id()));
        std::fs::write(&path, to_zip64(&zip)).unwrap();
        let read = |p: &Path| {
            let mut recs = Vec::new();
            read_pth(p, |r| {
                recs.push((r.index, r.arch_str, r.schedules));
                Ok(())
            })
            .unwrap();
            recs
        };
        let recs = read(&path);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs, read(&fixture("nb201-2-zip.pth")));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn both_formats_read_the_same_records() {
        let read = |name: &str| {
            let mut recs = Vec::new();
            let summary = read_pth(&fixture(name), |r| {
                recs.push(r);
                Ok(())
            })
            .unwrap();
            (summary, recs)
        };
        let (legacy, a) = read("nb201-2-legacy.pth");
        let (zip, b) = read("nb201-2-zip.pth");
        assert_eq!((legacy.format, zip.format), (PthFormat::Legacy, PthFormat::Zip));
        assert_eq!((legacy.records, legacy.archs.len(), legacy.evaluated_indexes.clone()), (2, 2, vec![0, 1]));
        assert_eq!(legacy.archs, zip.archs);
        assert_eq!(
            a.iter().map(|r| (&r.arch_str, &r.schedules)).collect::<Vec<_>>(),
            b.iter().map(|r| (&r.arch_str, &r.schedules)).collect::<Vec<_>>()
        );
        let c10v = a[1].dataset("200", "cifar10-valid").unwrap();
        assert_eq!((c10v.runs.len(), c10v.runs[0].epochs), (3, 200));
        assert_eq!(a[1].dataset("12", "cifar10-valid").unwrap().runs[0].epochs, 12);
    }
}
