//! `eplink`: the eplink command line (provider and consumer operations over the API).
//!
//! Exit codes: 0 ok, 1 refused by the API, 2 usage, 3 authentication, 4 not found,
//! 5 daemon unreachable or failing, 6 no credentials.

use clap::Parser;
use eplink_control::cli::{Cli, run};

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("eplink: {e}");
        std::process::exit(e.exit_code());
    }
}
