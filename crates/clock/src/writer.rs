//! The writer side of the clockbound file (gnomond uses it; tests too).
//!
//! Owns creating the file in place (a restarted writer keeps the same inode, so
//! readers that opened it earlier see the new records) and the update protocol:
//! generation to odd, payload, generation to even, each its own `pwrite`. One writer
//! per file; it must not be shared between processes.

use crate::layout::{self, Record, GENERATION_OFFSET, PAYLOAD_OFFSET, RECORD_BYTES};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The single writer of a clockbound file.
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    generation: u64,
}

impl Writer {
    /// Create (or reuse in place) the file at `path`, readable by everyone, and mark
    /// it unknown until the first [`Writer::publish`]. The parent directory is created.
    pub fn create(path: &Path) -> io::Result<Writer> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        let mut existing = [0u8; RECORD_BYTES];
        let generation = match file.read_exact_at(&mut existing, 0) {
            Ok(()) if existing[0..4] == layout::MAGIC => {
                let mut word = [0u8; 8];
                word.copy_from_slice(&existing[8..16]);
                // Continue past whatever a previous writer left, even if mid-write.
                (u64::from_le_bytes(word) + 1) & !1
            }
            _ => 0,
        };
        file.set_len(RECORD_BYTES as u64)?;
        let mut writer = Writer {
            file,
            path: path.to_owned(),
            generation,
        };
        writer.write_generation(generation | 1)?;
        writer.file.write_all_at(&layout::header(), 0)?;
        writer.file.write_all_at(
            &layout::encode_payload(&Record {
                as_of_ns: 0,
                bound_ns: 0,
                drift_ppb: 0,
                written_ns: 0,
                stale_after_ns: 0,
                status: layout::Status::Unknown,
            }),
            PAYLOAD_OFFSET,
        )?;
        writer.generation = (generation | 1) + 1;
        writer.write_generation(writer.generation)?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The generation of the last complete write (always even).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn write_generation(&self, generation: u64) -> io::Result<()> {
        self.file
            .write_all_at(&generation.to_le_bytes(), GENERATION_OFFSET)
    }

    /// Publish `record`: readers see either the previous record or this one whole.
    pub fn publish(&mut self, record: &Record) -> io::Result<()> {
        let writing = self.generation.wrapping_add(1);
        self.write_generation(writing)?;
        self.file
            .write_all_at(&layout::encode_payload(record), PAYLOAD_OFFSET)?;
        self.generation = writing.wrapping_add(1);
        self.write_generation(self.generation)
    }

    /// Test hook: leave the file as a writer that died mid-write would.
    #[doc(hidden)]
    pub fn begin_write_and_abandon(&mut self) -> io::Result<()> {
        self.write_generation(self.generation.wrapping_add(1))
    }
}
