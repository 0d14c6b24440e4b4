//! `eplink`: the eplink command line (provider and consumer operations over the API, and
//! `eplink dp …`, which reads the dataplane's pinned maps directly).
//!
//! Exit codes: 0 ok, 1 refused by the API, 2 usage, 3 authentication, 4 not found,
//! 5 daemon unreachable or failing (for `dp`: no dataplane pinned), 6 no credentials
//! (for `dp`: the inventory or store could not be read).

use clap::{CommandFactory, FromArgMatches, Parser};
use eplink_control::cli::{Cli, run};
use eplink_control::inspect::cli::{self as dp, DpCli};

const DP_HELP: &str =
    "Dataplane inspection (reads the pinned BPF maps; works with the daemon down):
  eplink dp maps|enis|flows|stats|top|metrics    see `eplink dp --help`";

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `dp` has its own command tree: its `--endpoint` filter would clash with the API
    // commands' global `--endpoint host:port`.
    if args.get(1).is_some_and(|a| a == "dp") {
        let cli = DpCli::parse_from(&args[1..]);
        if let Err(e) = dp::run(&cli) {
            eprintln!("eplink dp: {e}");
            std::process::exit(e.exit_code());
        }
        return;
    }
    let matches = Cli::command().after_help(DP_HELP).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = run(&cli) {
        eprintln!("eplink: {e}");
        std::process::exit(e.exit_code());
    }
}
