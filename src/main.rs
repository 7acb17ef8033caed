//! The stock `omnibridge` binary: the bridge with every built-in channel kind. A business's
//! own binary adds its kinds with [`omnibridge::Bridge::with_channel_factory`].

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the profile of the ingest path spent about 9 % of its
/// time in malloc/free (see bench/README.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    omnibridge::Bridge::new().run().await
}
