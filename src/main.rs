//! The `arsight` binary: parses the command line, installs logging and calls the
//! library. Nothing else lives here.

use clap::Parser;

/// mimalloc: prediction batches allocate and free many small strings across threads,
/// where glibc's allocator measured ~20% of a batch's CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = arsight::cli::Cli::parse();
    arsight::cli::init_telemetry();
    if let Err(e) = arsight::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
