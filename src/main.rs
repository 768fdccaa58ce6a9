//! The `arsight` binary: parses the command line, installs logging and calls the
//! library. Nothing else lives here.

use clap::Parser;

fn main() {
    let cli = arsight::cli::Cli::parse();
    arsight::cli::init_telemetry();
    if let Err(e) = arsight::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
