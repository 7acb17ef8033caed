//! Configured channels: the factories that build them from `[[channels]]` by kind, the
//! registry the bridge routes by, the shaping of outbound messages to each channel's
//! capabilities (buttons as numbered options where a channel has none), and reply windows.

mod builtin;
pub mod factories;
pub mod options;
pub mod registry;
pub mod shape;
pub mod state;
pub mod window;

pub use factories::{ChannelFactories, MissingSecret};
pub use registry::{ChannelHandle, ChannelRegistry};
