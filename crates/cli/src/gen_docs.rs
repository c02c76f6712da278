//! `gnomon generate-docs DIR` (hidden): man pages and shell completions for `gnomon`
//! and `gnomond`, rendered from their clap definitions so they never drift from the
//! options.
//!
//! Owns the output layout: `DIR/man/gnomon.1`, `DIR/man/gnomon-SUBCOMMAND.1`,
//! `DIR/man/gnomond.8`, and `DIR/completions/{gnomon,gnomond}.{bash,zsh,fish}` (plus
//! `_gnomon`/`_gnomond` for zsh). It must not write outside DIR. The Debian package
//! and docs/deploy.md use this layout.

use clap::CommandFactory;
use clap_complete::Shell;
use gnomon_config::command_line::Args as GnomondArgs;
use std::path::Path;

/// Write every page and completion for `gnomon` (given) and gnomond into `out_dir`;
/// returns the files written.
pub fn generate(gnomon: clap::Command, out_dir: &Path) -> Result<Vec<String>, String> {
    let man_dir = out_dir.join("man");
    let completion_dir = out_dir.join("completions");
    for dir in [&man_dir, &completion_dir] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut written = Vec::new();
    let gnomond = GnomondArgs::command();
    let mut gnomon = gnomon;
    gnomon.build();

    write_man(&gnomon, "gnomon", "1", &man_dir, &mut written)?;
    for sub in gnomon
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
    {
        let name = format!("gnomon-{}", sub.get_name());
        // clap names are 'static without its `string` feature; a few bytes per page,
        // once, in a run that exits right after.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        let page = sub.clone().name(static_name);
        write_man(&page, &name, "1", &man_dir, &mut written)?;
    }
    write_man(&gnomond, "gnomond", "8", &man_dir, &mut written)?;

    for (command, name) in [(gnomon, "gnomon"), (gnomond, "gnomond")] {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut command = command.clone();
            let path = clap_complete::generate_to(shell, &mut command, name, &completion_dir)
                .map_err(|e| format!("{} completion for {name}: {e}", shell))?;
            written.push(path.display().to_string());
        }
    }
    Ok(written)
}

fn write_man(
    command: &clap::Command,
    name: &str,
    section: &str,
    dir: &Path,
    written: &mut Vec<String>,
) -> Result<(), String> {
    let man = clap_mangen::Man::new(command.clone())
        .title(name.to_uppercase())
        .section(section)
        .manual("gnomon");
    let mut bytes = Vec::new();
    man.render(&mut bytes)
        .map_err(|e| format!("man page {name}: {e}"))?;
    let path = dir.join(format!("{name}.{section}"));
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    written.push(path.display().to_string());
    Ok(())
}
