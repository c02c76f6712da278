//! The drift file: the frequency correction kept across restarts.
//!
//! Owns its format (chrony's: one line, frequency then skew, both ppm) and writing it
//! atomically: a temporary file beside it, fsync, rename. The value itself is the
//! engine's ([`SavedFrequency`]); when to save is the main loop's decision.

use gnomon_core::discipline::SavedFrequency;
use gnomon_sys::regular_file;
use std::io::Write;
use std::path::Path;

/// How much of a drift file is read: the two numbers chrony writes fit in 42 bytes, so
/// a huge file costs no more than a small one.
const DRIFT_FILE_READ_BYTES: u64 = 4096;

/// The frequency to start with from the drift file at `path`, as chronyd decides it: a
/// missing file is silently no frequency; a file that cannot be read or holds no valid
/// "FREQUENCY_PPM SKEW_PPM" (empty, garbage, truncated, a directory, a FIFO, a device)
/// is logged with chronyd's words and is also no frequency, so the daemon still starts.
/// The file is replaced (atomically) at the next save.
pub fn load(path: &Path) -> Option<SavedFrequency> {
    match read(path) {
        Ok(saved) => saved,
        Err(reason) => {
            tracing::warn!(
                "Could not read valid frequency and skew from driftfile {} ({reason}); \
                 starting without a saved frequency",
                path.display()
            );
            None
        }
    }
}

/// Read a drift file; `Ok(None)` when it does not exist, `Err(why)` when it exists but
/// holds no valid frequency and skew. Only a regular file is read, and only its first
/// [`DRIFT_FILE_READ_BYTES`].
pub fn read(path: &Path) -> Result<Option<SavedFrequency>, String> {
    let bytes = match regular_file::read_prefix(path, DRIFT_FILE_READ_BYTES) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut numbers = text.split_whitespace().map(str::parse::<f64>);
    // Both numbers, as chronyd's `fscanf("%lf%lf") == 2`, and a frequency a clock can
    // have: a file cut after the first number is not trusted.
    match (numbers.next(), numbers.next()) {
        (Some(Ok(frequency_ppm)), Some(Ok(skew_ppm)))
            if frequency_ppm.is_finite()
                && frequency_ppm.abs() <= 500.0
                && skew_ppm.is_finite()
                && skew_ppm >= 0.0 =>
        {
            Ok(Some(SavedFrequency {
                frequency_ppm,
                skew_ppm,
            }))
        }
        _ => {
            let shown: String = text.trim().chars().take(60).collect();
            Err(format!(
                "expected \"FREQUENCY_PPM SKEW_PPM\" with |frequency| <= 500, found {shown:?}"
            ))
        }
    }
}

/// Write the drift file atomically (temp file, fsync, rename).
pub fn write(path: &Path, saved: SavedFrequency) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&temporary)?;
        writeln!(file, "{:20.6} {:20.6}", saved.frequency_ppm, saved.skew_ppm)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drift");
        assert_eq!(read(&path).unwrap(), None);
        write(
            &path,
            SavedFrequency {
                frequency_ppm: -12.345678,
                skew_ppm: 0.25,
            },
        )
        .unwrap();
        let back = read(&path).unwrap().unwrap();
        assert!((back.frequency_ppm + 12.345678).abs() < 1e-9);
        assert!((back.skew_ppm - 0.25).abs() < 1e-9);
        assert!(!dir.path().join("drift.tmp").exists());
        // chrony's own format reads too.
        std::fs::write(&path, "          -2.500000             0.011000\n").unwrap();
        assert!((read(&path).unwrap().unwrap().frequency_ppm + 2.5).abs() < 1e-9);
        std::fs::write(&path, "garbage").unwrap();
        let error = read(&path).unwrap_err();
        assert!(
            error.contains("FREQUENCY_PPM") && error.contains("garbage"),
            "{error}"
        );
        std::fs::write(&path, "900 1").unwrap();
        assert!(read(&path).is_err());
    }

    /// Every broken drift file is "no saved frequency", never an error that stops the
    /// daemon, and never a read of more than a few KiB.
    #[test]
    fn broken_drift_files_load_as_no_frequency() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drift");
        let cases: [(&str, Vec<u8>); 7] = [
            ("empty", Vec::new()),
            ("garbage", b"\x00\xff not a number \x7f".to_vec()),
            ("truncated after the frequency", b"   -12.345678".to_vec()),
            (
                "truncated before the skew's digits",
                b"   -12.345678    -".to_vec(),
            ),
            ("negative skew", b"1.0 -3".to_vec()),
            ("not finite", b"nan 1".to_vec()),
            ("huge", vec![b'7'; 8 << 20]),
        ];
        for (what, content) in cases {
            std::fs::write(&path, &content).unwrap();
            assert!(read(&path).is_err(), "{what}: accepted");
            assert_eq!(load(&path), None, "{what}");
        }
        // A valid file with a huge tail still reads (chronyd reads only two numbers).
        let mut content = b"  3.25 0.5\n".to_vec();
        content.extend(std::iter::repeat_n(b' ', 1 << 20));
        std::fs::write(&path, &content).unwrap();
        assert_eq!(load(&path).map(|saved| saved.frequency_ppm), Some(3.25));
        // A directory, a FIFO (no writer: a blocking open would hang) and a device.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(read(&path).unwrap_err().contains("directory"));
        assert_eq!(load(&path), None);
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(read(&fifo).unwrap_err().contains("FIFO"));
        assert_eq!(load(&fifo), None);
        assert_eq!(load(Path::new("/dev/zero")), None);
        assert_eq!(load(&dir.path().join("missing")), None);
    }
}
