//! Shards: many streams in one file, so a million latents are not a million files.
//!
//! A shard is a POSIX tar file in the WebDataset convention: one member `KEY.vaer` per stream,
//! each a complete stream with its own CRC32C, so `tar`, WebDataset and every tool that reads
//! tar read it. Members are written with fixed metadata (mode 0644, time 0), so the same
//! streams make the same shard byte for byte. Other members (`KEY.json`, …) are kept and
//! ignored.
//!
//! Reading indexes the shard first (its tar headers only, seeking over the data), then reads
//! members by key in any order, each bounded by [`Limits::max_alloc`]; [`ShardReader::verify`]
//! checks every member's stream, and a damaged member is reported by its key without hiding
//! the others. [`ShardWriter::append_to`] adds members to an existing shard.
//!
//! ```
//! use vaerans::latent::shard::{ShardReader, ShardWriter};
//! # fn main() -> vaerans::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("latents-000000.tar");
//! # let codec = vaerans::LatentCodec::new(80)?;
//! # let stream = |seed: usize| -> vaerans::Result<Vec<u8>> {
//! #     use vaerans::prelude::*;
//! #     let mut world = World::new();
//! #     let data: Vec<f32> = (0..4 * 8 * 8).map(|i| ((i * seed) % 13) as f32 / 4.0).collect();
//! #     let tensor = world.arena_mut().alloc_from(&[4, 8, 8], &data)?;
//! #     let e = world.spawn_with(Latent { tensor });
//! #     Ok(world.pipe(e).chain(codec.encoder()).out::<AnsBitstream>()?.into_bytes())
//! # };
//! let mut shard = ShardWriter::create(&path)?;
//! shard.append("img_0001", &stream(1)?)?;
//! shard.append("img_0002", &stream(2)?)?;
//! shard.finish()?;
//!
//! let mut reader = ShardReader::open(&path, &vaerans::Limits::default())?;
//! assert_eq!(reader.keys().collect::<Vec<_>>(), ["img_0001", "img_0002"]);
//! let bytes = reader.read("img_0002")?;
//! assert!(reader.verify().iter().all(|(_, r)| r.is_ok()));
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::bitstream::{AnsBitstream, Limits};
use crate::error::{Error, Result};

/// The extension of a stream member: `KEY.vaer`.
pub const EXTENSION: &str = "vaer";

/// Longest key: `KEY.vaer` fits a tar header's 100-byte name field.
pub const MAX_KEY_LEN: usize = 95;

/// Tar's block size.
const BLOCK: u64 = 512;

/// Checks a member key: 1 to [`MAX_KEY_LEN`] bytes of ASCII letters, digits, `_`, `-` and `/`
/// (WebDataset keys name a sample; the first `.` starts the extension, so a key has none), not
/// starting or ending with `/`.
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/'))
        && !key.starts_with('/')
        && !key.ends_with('/')
        && !key.contains("//");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{key}` is not a shard key: 1 to {MAX_KEY_LEN} ASCII letters, digits, `_`, `-` \
             and inner `/`, no `.`"
        )))
    }
}

/// Writes streams into a shard.
pub struct ShardWriter<W: Write> {
    builder: tar::Builder<W>,
    path: PathBuf,
    /// Every key in the shard, so none is written twice.
    keys: HashSet<String>,
    bytes: u64,
}

impl<W: Write> std::fmt::Debug for ShardWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter")
            .field("path", &self.path)
            .field("members", &self.keys.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl ShardWriter<File> {
    /// A new shard file at `path` (replacing any).
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::new_at(file, path, HashSet::new(), 0))
    }

    /// Opens the shard at `path` to add members after its last one (its end-of-archive blocks
    /// are overwritten); creates it when missing.
    pub fn append_to(path: &Path, limits: &Limits) -> Result<Self> {
        if !path.exists() {
            return Self::create(path);
        }
        let reader = ShardReader::open(path, limits)?;
        let (end, keys) = (reader.end, reader.by_key.into_keys().collect());
        let mut file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(end).map_err(|e| Error::io(path, e))?;
        file.seek(SeekFrom::Start(end))
            .map_err(|e| Error::io(path, e))?;
        Ok(Self::new_at(file, path, keys, end))
    }
}

impl<W: Write> ShardWriter<W> {
    /// A shard written to `out` (`name` is what errors call it).
    pub fn new(out: W, name: &Path) -> Self {
        Self::new_at(out, name, HashSet::new(), 0)
    }

    fn new_at(out: W, path: &Path, keys: HashSet<String>, bytes: u64) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        Self {
            builder,
            path: path.to_owned(),
            keys,
            bytes,
        }
    }

    /// The shard's path (what errors call it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds `stream` as member `KEY.vaer`; a key the shard holds already is an error. The
    /// stream is not parsed here: whoever made it checked it (readers check every member).
    pub fn append(&mut self, key: &str, stream: &[u8]) -> Result<()> {
        check_key(key)?;
        if self.keys.contains(key) {
            return Err(Error::InvalidInput(format!(
                "shard {} holds key {key} already",
                self.path.display()
            )));
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(stream.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let name = format!("{key}.{EXTENSION}");
        self.builder
            .append_data(&mut header, &name, stream)
            .map_err(|e| Error::io(&self.path, e))?;
        self.keys.insert(key.to_owned());
        self.bytes += BLOCK + (stream.len() as u64).div_ceil(BLOCK) * BLOCK;
        Ok(())
    }

    /// Members written, including those a shard opened for appending had.
    pub fn members(&self) -> usize {
        self.keys.len()
    }

    /// Bytes of the shard so far (without the end-of-archive blocks `finish` adds).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Ends the shard (tar's end-of-archive blocks) and flushes it.
    pub fn finish(self) -> Result<W> {
        let path = self.path;
        let mut out = self.builder.into_inner().map_err(|e| Error::io(&path, e))?;
        out.flush().map_err(|e| Error::io(&path, e))?;
        Ok(out)
    }
}

/// Where a member's stream lies in its shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key (the member's name without `.vaer`).
    pub key: String,
    /// Offset of its data in the shard.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// Reads a shard's streams by key, after indexing it once: from a file ([`open`](Self::open)),
/// or from any seekable source, such as a shard fetched into memory
/// ([`from_reader`](Self::from_reader) with a `std::io::Cursor`).
#[derive(Debug)]
pub struct ShardReader<R: Read + Seek = BufReader<File>> {
    file: R,
    path: PathBuf,
    members: Vec<Member>,
    by_key: HashMap<String, usize>,
    /// Where the last member's data (rounded to a block) ends: where appending writes.
    end: u64,
    limits: Limits,
}

impl ShardReader {
    /// Opens and indexes the shard at `path`: every `KEY.vaer` member, in order. A key that
    /// appears twice, a member over [`Limits::max_alloc`] or a damaged tar header is an error
    /// naming it.
    pub fn open(path: &Path, limits: &Limits) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_reader(BufReader::new(file), path, limits)
    }
}

impl<R: Read + Seek> ShardReader<R> {
    /// Indexes the shard `source` holds, as [`open`](ShardReader::open) does a file's; `name`
    /// is what errors call it.
    pub fn from_reader(mut source: R, name: &Path, limits: &Limits) -> Result<Self> {
        let path = name;
        let size = source
            .seek(SeekFrom::End(0))
            .and_then(|n| source.seek(SeekFrom::Start(0)).map(|_| n))
            .map_err(|e| Error::io(path, e))?;
        let mut archive = tar::Archive::new(source);
        let (mut members, mut by_key, mut end) = (Vec::new(), HashMap::new(), 0);
        let bad = |what: String| Error::Corrupt(format!("shard {}: {what}", path.display()));
        for entry in archive
            .entries_with_seek()
            .map_err(|e| bad(e.to_string()))?
        {
            let entry = entry.map_err(|e| {
                bad(format!(
                    "{e} after {} members (the last: {})",
                    members.len(),
                    members.last().map_or("none", |m: &Member| m.key.as_str())
                ))
            })?;
            let (offset, len) = (entry.raw_file_position(), entry.size());
            if offset.saturating_add(len) > size {
                return Err(bad(format!(
                    "a member claims {len} bytes at {offset}, past the end ({size} bytes)"
                )));
            }
            end = offset + len.div_ceil(BLOCK) * BLOCK;
            let name = entry.path_bytes();
            let name = String::from_utf8_lossy(&name);
            let Some(key) = name.strip_suffix(&format!(".{EXTENSION}")) else {
                continue;
            };
            if key.contains('.') {
                continue;
            }
            if len > limits.max_alloc {
                return Err(Error::LimitExceeded(format!(
                    "shard {}: member {key} is {len} bytes, the limit is {}",
                    path.display(),
                    limits.max_alloc
                )));
            }
            if by_key.insert(key.to_owned(), members.len()).is_some() {
                return Err(bad(format!("key {key} appears twice")));
            }
            members.push(Member {
                key: key.to_owned(),
                offset,
                len,
            });
        }
        let file = archive.into_inner();
        Ok(Self {
            file,
            path: path.to_owned(),
            members,
            by_key,
            end,
            limits: *limits,
        })
    }

    /// The members, in shard order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The keys, in shard order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.key.as_str())
    }

    /// Where member `key` is in shard order, if the shard holds it.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The bytes of member `key`'s stream (not parsed).
    pub fn read(&mut self, key: &str) -> Result<Vec<u8>> {
        let i = self.index_of(key).ok_or_else(|| {
            Error::InvalidInput(format!("shard {} has no key {key}", self.path.display()))
        })?;
        self.read_at(i)
    }

    /// The bytes of the `i`-th member's stream (not parsed).
    pub fn read_at(&mut self, i: usize) -> Result<Vec<u8>> {
        let m = self.members.get(i).ok_or_else(|| {
            Error::InvalidInput(format!(
                "shard {} has {} members, not {}",
                self.path.display(),
                self.members.len(),
                i + 1
            ))
        })?;
        let mut bytes = vec![0; m.len as usize];
        let path = &self.path;
        self.file
            .seek(SeekFrom::Start(m.offset))
            .and_then(|_| self.file.read_exact(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        Ok(bytes)
    }

    /// Member `key`'s stream, parsed and checked (checksum and header) under the limits the
    /// shard was opened with.
    pub fn stream(&mut self, key: &str) -> Result<AnsBitstream> {
        let bytes = self.read(key)?;
        AnsBitstream::parse(bytes, &self.limits).map_err(|e| self.member_error(key, e))
    }

    /// Every member's stream checked (checksum and header), in order: one result per key, so
    /// a damaged member is named and the others still read.
    pub fn verify(&mut self) -> Vec<(String, Result<()>)> {
        let keys: Vec<String> = self.keys().map(str::to_owned).collect();
        keys.into_iter()
            .map(|k| {
                let r = self.stream(&k).map(|_| ());
                (k, r)
            })
            .collect()
    }

    /// `e` for member `key`, naming the shard and the key.
    fn member_error(&self, key: &str, e: Error) -> Error {
        match e {
            Error::Io { .. } | Error::LimitExceeded(_) => e,
            e => Error::Corrupt(format!("shard {}, key {key}: {e}", self.path.display())),
        }
    }
}
