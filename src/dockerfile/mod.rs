//! The Dockerfile compiler: text → parsed instructions → one LLB graph per
//! target platform.

pub mod shell;
