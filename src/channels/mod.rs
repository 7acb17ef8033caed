//! Configured channels: building them from `[[channels]]`, the registry the bridge routes by,
//! and the shaping of outbound messages to each channel's capabilities.

pub mod build;
pub mod registry;
pub mod shape;

pub use registry::{ChannelHandle, ChannelRegistry};
