//! Platforms (`linux/arm64`, `linux/arm/v7`, ...): parsing, normalisation,
//! the host platform and the toolchain names each platform goes by.
