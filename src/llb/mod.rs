//! A typed, immutable builder for BuildKit's LLB graphs, marshalled into a
//! `pb::Definition` with stable digests.
