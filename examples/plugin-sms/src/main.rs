//! The business's own bridge binary: the stock bridge (every built-in channel kind and the
//! whole command line: `serve`, `check`, `--config`, `--bind`, `--data-dir`) plus the
//! `sms-gateway` channel kind.

use std::process::ExitCode;

use omnibridge_plugin_sms::SmsGatewayFactory;

#[tokio::main]
async fn main() -> ExitCode {
    omnibridge::Bridge::new()
        .with_channel_factory(SmsGatewayFactory)
        .run()
        .await
}
