//! Print the effective configuration and warnings of a chrony.conf-syntax file,
//! like `gnomond -p -f FILE` will: `cargo run -p gnomon-daemon --example show_config FILE [LINE]...`.

use std::path::Path;
use std::process::ExitCode;

use gnomon_config::Config;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((file, extra_lines)) = args.split_first() else {
        eprintln!("usage: show_config FILE [CONFIG-LINE]...");
        return ExitCode::from(2);
    };
    match Config::load(Path::new(file), extra_lines) {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", parsed.config.effective_text());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
