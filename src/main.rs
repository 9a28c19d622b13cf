//! The `octohooks` binary: all logic lives in the library; this only hands over the CLI.

fn main() -> std::process::ExitCode {
    octohooks::cli::main()
}
