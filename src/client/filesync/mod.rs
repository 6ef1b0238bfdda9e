//! The fsutil DiffCopy packet protocol that BuildKit uses to move directory
//! trees between client and daemon, independent of the gRPC transport.
pub mod pattern;
