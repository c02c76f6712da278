//! Fuzz gnomond's configuration parser (chrony.conf syntax) and the effective
//! configuration it renders (`gnomond -p`).
//!
//! Arbitrary text is parsed with a file system that holds nothing (`include`,
//! `confdir` and `sourcedir` find no files); it parses or gives an error, never a
//! panic. When it parses, `render_effective` must give text that parses again, with
//! no error, to an equal `Config` (the sources' origins, file and line, are the only
//! thing allowed to differ). Seed it with examples/ and the test fixtures, and the
//! dictionary fuzz/dict/config.dict (see docs/security.md).
#![no_main]

use std::ffi::OsString;
use std::io;
use std::path::Path;

use gnomon_config::{render_effective, Config, ConfigFs, ConfigParser};
use libfuzzer_sys::fuzz_target;

/// A file system without files.
struct NoFiles;

impl ConfigFs for NoFiles {
    fn read(&self, _path: &Path) -> io::Result<Vec<u8>> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no files here"))
    }

    fn list_dir(&self, _dir: &Path) -> io::Result<Vec<OsString>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no directories here",
        ))
    }

    fn exists(&self, _path: &Path) -> bool {
        false
    }
}

fn parse(text: &str, origin: &str) -> Option<Config> {
    let mut parser = ConfigParser::new(&NoFiles);
    parser.parse_text(text, origin).ok()?;
    Some(parser.finish().config)
}

fn without_origins(mut config: Config) -> Config {
    for source in &mut config.sources {
        source.origin.origin.clear();
        source.origin.line_number = 0;
    }
    config
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(config) = parse(&text, "fuzz.conf") else {
        return;
    };
    let rendered = render_effective(&config);
    let mut parser = ConfigParser::new(&NoFiles);
    if let Err(error) = parser.parse_text(&rendered, "effective") {
        panic!("the effective configuration does not parse: {error}\n{rendered}");
    }
    let again = parser.finish().config;
    assert_eq!(
        without_origins(again),
        without_origins(config),
        "render -> parse differs:\n{rendered}"
    );
});
