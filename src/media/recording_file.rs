//! Writes a finished recording to disk so that a CDR never names a missing or partial file:
//! the bytes go to a hidden `.<id>.<ext>.part` file beside the final one, are synced
//! (`fsync`), and the file is renamed into place and its directory synced; only then is it
//! `recorded`. Any error removes the partial file and becomes the CDR's reason (`disk_full`
//! for ENOSPC or EDQUOT, else `write_failed`). Blocking: run on the driver's blocking threads.

use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::recording::{Format, Recording, SAMPLE_RATE};
use super::recording_pcap::{PcapError, write_pcap};
use crate::call::recording::{RecordingReason, RecordingSettled};

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

/// Writes `recording` (a WAV, or a pcap whose packet times `wall` turns into time since the
/// Unix epoch) and says how it ended.
pub fn write(recording: &Recording, wall: impl Fn(Instant) -> Duration) -> RecordingSettled {
    let path = recording.path();
    match write_synced(recording, &path, wall) {
        Ok(bytes) => RecordingSettled::Recorded {
            path: path.to_string_lossy().into_owned(),
            bytes,
            secs: recording.secs(),
        },
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "recording not written");
            RecordingSettled::Failed(error.reason())
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

fn write_synced(
    recording: &Recording,
    path: &Path,
    wall: impl Fn(Instant) -> Duration,
) -> Result<u64, WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let part = part_path(path);
    let written = write_part(recording, &part, wall).and_then(|()| {
        File::open(&part)?.sync_all()?;
        std::fs::rename(&part, path)?;
        File::open(dir)?.sync_all()?;
        Ok(std::fs::metadata(path)?.len())
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}

fn write_part(
    recording: &Recording,
    part: &Path,
    wall: impl Fn(Instant) -> Duration,
) -> Result<(), WriteError> {
    let file = BufWriter::new(File::create(part)?);
    match recording.format() {
        Format::Wav => {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: SAMPLE_RATE,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut writer = hound::WavWriter::new(file, spec)?;
            for sample in recording.stereo() {
                writer.write_sample(sample)?;
            }
            writer.finalize()?;
        }
        Format::Pcap => {
            let file = write_pcap(&recording.captured.packets, &recording.addrs, wall, file)?;
            file.into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recording::{PcapAddrs, Recorder};

    fn recording(dir: &Path, g711: bool) -> Recording {
        let t0 = Instant::now();
        let mut captured = Recorder::default();
        let pt = if g711 { 0 } else { 111 };
        let mut packet = vec![0x80, pt, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        packet.extend([0xffu8; 160]);
        captured.push(t0, false, 0, pt, &packet, &packet[12..]);
        Recording {
            id: "00000000000000aa".into(),
            dir: dir.to_path_buf(),
            captured,
            answered: t0,
            addrs: PcapAddrs::unknown(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ct-recfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_written_file_is_complete_and_nothing_partial_is_left() {
        let dir = temp_dir("ok");
        for g711 in [true, false] {
            let rec = recording(&dir, g711);
            let settled = write(&rec, |_| Duration::from_secs(1));
            let RecordingSettled::Recorded { path, bytes, secs } = settled else {
                panic!("written: {settled:?}");
            };
            assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
            assert_eq!(secs, 0);
            assert!(path.ends_with(if g711 { ".wav" } else { ".pcap" }));
        }
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
        let wav = hound::WavReader::open(dir.join("00000000000000aa.wav")).unwrap();
        assert_eq!(wav.len(), 320, "160 frames, two channels");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_error_is_a_reason_and_leaves_no_file() {
        let dir = temp_dir("bad");
        std::fs::write(&dir, b"a file where the directory should be").unwrap();
        let settled = write(&recording(&dir.join("sub"), true), |_| Duration::ZERO);
        assert_eq!(
            settled,
            RecordingSettled::Failed(RecordingReason::WriteFailed)
        );
        std::fs::remove_file(&dir).unwrap();
        let full = WriteError::Io(std::io::Error::from(ErrorKind::StorageFull));
        assert_eq!(full.reason(), RecordingReason::DiskFull);
        let wav_full = WriteError::Wav(hound::Error::IoError(ErrorKind::QuotaExceeded.into()));
        assert_eq!(wav_full.reason(), RecordingReason::DiskFull);
    }

    #[test]
    fn dev_full_is_a_full_disk() {
        // Linux's /dev/full answers every write with ENOSPC, like a full file system.
        let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let mut out = std::io::BufWriter::with_capacity(16, file);
        let error = std::io::Write::write_all(&mut out, &[0u8; 64])
            .and_then(|()| std::io::Write::flush(&mut out))
            .unwrap_err();
        assert_eq!(WriteError::Io(error).reason(), RecordingReason::DiskFull);
    }
}
