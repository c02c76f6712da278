//! The drift file: the frequency correction kept across restarts.
//!
//! Owns its format (chrony's: one line, frequency then skew, both ppm) and writing it
//! atomically: a temporary file beside it, fsync, rename. The value itself is the
//! engine's ([`SavedFrequency`]); when to save is the main loop's decision.

use gnomon_core::discipline::SavedFrequency;
use std::io::Write;
use std::path::Path;

/// Read a drift file; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<SavedFrequency>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(format!(
                "{}: cannot read drift file: {error}",
                path.display()
            ))
        }
    };
    let mut numbers = text.split_whitespace().map(str::parse::<f64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(frequency_ppm)), skew) if frequency_ppm.is_finite() && frequency_ppm.abs() <= 500.0 => {
            let skew_ppm = match skew {
                Some(Ok(skew)) if skew.is_finite() && skew >= 0.0 => skew,
                _ => 1e6,
            };
            Ok(Some(SavedFrequency { frequency_ppm, skew_ppm }))
        }
        _ => Err(format!(
            "{}: drift file should hold \"FREQUENCY_PPM SKEW_PPM\" with |frequency| <= 500, found {:?}; \
             delete it to start from zero",
            path.display(),
            text.trim()
        )),
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
            error.contains("drift") && error.contains("garbage"),
            "{error}"
        );
        std::fs::write(&path, "900 1").unwrap();
        assert!(read(&path).is_err());
    }
}
