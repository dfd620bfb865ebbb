//! The `intrain` command: parses arguments, makes one library call, renders the result. All
//! logic lives in the `intrain` library; see `intrain --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
