//! The stock `omnibridge` binary: the bridge with every built-in channel kind. A business's
//! own binary adds its kinds with [`omnibridge::Bridge::with_channel_factory`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    omnibridge::Bridge::new().run().await
}
