//! A recording's file while the call lasts, written so that a CDR never names a missing or
//! partial file: the bytes go to a hidden `.<id>.<ext>.part` file beside the final one as the
//! call goes on; at its end the file is completed (a WAV's header gets its lengths), synced
//! (`fsync`), renamed into place and its directory synced; only then is it `recorded`. Any
//! error removes the partial file and becomes the CDR's reason (`disk_full` for ENOSPC or
//! EDQUOT, else `write_failed`). A process killed mid-call leaves the `.part` file, which the
//! restart path (`app::recordings`) removes. Blocking: run on the driver's writer threads.

use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use super::recording::SAMPLE_RATE;
use super::recording_pcap::PcapError;
use crate::call::recording::RecordingReason;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("wav: {0}")]
    Wav(#[from] hound::Error),
    #[error(transparent)]
    Pcap(#[from] PcapError),
}

impl WriteError {
    /// The CDR's reason for this error.
    pub fn reason(&self) -> RecordingReason {
        let io = match self {
            WriteError::Io(e) | WriteError::Wav(hound::Error::IoError(e)) => Some(e),
            WriteError::Pcap(PcapError::Io(e)) => Some(e),
            WriteError::Pcap(PcapError::Pcap(pcap_file::PcapError::IoError(e))) => Some(e),
            _ => None,
        };
        match io.map(std::io::Error::kind) {
            Some(ErrorKind::StorageFull | ErrorKind::QuotaExceeded) => RecordingReason::DiskFull,
            _ => RecordingReason::WriteFailed,
        }
    }
}

/// The hidden name a file has while it is written.
pub fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.part"))
}

/// Creates `path`'s directory and its `.part` file.
pub fn create_part(path: &Path) -> Result<BufWriter<File>, WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    Ok(BufWriter::new(File::create(part_path(path))?))
}

/// The `.part` file of `path`, complete and closed: synced, renamed into place, its directory
/// synced. Returns the file's size.
pub fn put_in_place(path: &Path) -> Result<u64, WriteError> {
    let part = part_path(path);
    File::open(&part)?.sync_all()?;
    std::fs::rename(&part, path)?;
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Removes what is left of a file that failed.
pub fn discard(path: &Path) {
    let _ = std::fs::remove_file(part_path(path));
}

/// A stereo WAV being written: frames are appended in timeline order; a gap (pieces dropped
/// on the way) is filled with silence so later audio keeps its place.
pub struct WavPart {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    frames: u64,
}

impl WavPart {
    pub fn create(path: &Path) -> Result<WavPart, WriteError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(create_part(path)?, spec)?;
        Ok(WavPart {
            path: path.to_path_buf(),
            writer,
            frames: 0,
        })
    }

    /// Appends interleaved `samples` that start at timeline frame `at`.
    pub fn append(&mut self, at: u64, samples: &[i16]) -> Result<(), WriteError> {
        let gap = at.saturating_sub(self.frames);
        if gap > 0 {
            self.write(std::iter::repeat_n(0, 2 * gap as usize), 2 * gap as usize)?;
        }
        // Frames already written (a piece that overlaps) are not written twice.
        let skip = 2 * usize::try_from(self.frames.saturating_sub(at)).unwrap_or(usize::MAX);
        let fresh = samples.get(skip..).unwrap_or_default();
        self.write(fresh.iter().copied(), fresh.len())
    }

    fn write(&mut self, samples: impl Iterator<Item = i16>, n: usize) -> Result<(), WriteError> {
        if n == 0 {
            return Ok(());
        }
        let mut out = self
            .writer
            .get_i16_writer(u32::try_from(n).unwrap_or(u32::MAX));
        for sample in samples {
            out.write_sample(sample);
        }
        out.flush()?;
        self.frames += (n / 2) as u64;
        Ok(())
    }

    /// Whole seconds written.
    pub fn secs(&self) -> u32 {
        u32::try_from(self.frames / u64::from(SAMPLE_RATE)).unwrap_or(u32::MAX)
    }

    /// Completes the header and puts the file in place; returns its size.
    pub fn finish(self) -> Result<u64, WriteError> {
        self.writer.finalize()?;
        put_in_place(&self.path)
    }
}

#[cfg(test)]
#[path = "recording_file_tests.rs"]
mod tests;
