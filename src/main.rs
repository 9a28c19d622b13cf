//! The `octohooks` binary: all logic lives in the library; this only hands over the CLI.

/// mimalloc: the delivery path allocates many small, short-lived buffers across threads,
/// where glibc's allocator showed up first in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    octohooks::cli::main()
}
