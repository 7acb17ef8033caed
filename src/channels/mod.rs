//! Configured channels: the factories that build them from `[[channels]]` by kind, the
//! registry the bridge routes by, the shaping of outbound messages to each channel's
//! capabilities (buttons as numbered options where a channel has none), reply windows, and
//! how each channel presents a message ([`profile`], for template previews).

mod builtin;
pub mod factories;
pub mod leased;
pub mod options;
pub mod profile;
pub mod registry;
pub mod shape;
pub mod state;
pub mod window;

pub use factories::{ChannelFactories, MissingSecret};
pub use profile::ChannelProfile;
pub use registry::{ChannelHandle, ChannelRegistry};
