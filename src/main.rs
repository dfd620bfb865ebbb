//! The `intrain` command. All logic lives in the library; see `intrain --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    intrain::cli::main()
}
