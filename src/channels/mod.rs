//! Configured channels: building them from `[[channels]]`, the registry the bridge routes by,
//! the shaping of outbound messages to each channel's capabilities, and reply windows.

pub mod build;
pub mod registry;
pub mod shape;
pub mod state;
pub mod window;

pub use registry::{ChannelHandle, ChannelRegistry};
