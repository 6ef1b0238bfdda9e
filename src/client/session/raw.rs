//! A gRPC codec that hands message bytes through undecoded.
//!
//! `FileSend.DiffCopy` is declared with `BytesMessage`, but for a local
//! export the daemon sends fsutil `Packet`s on it (Go decodes frames by the
//! type it asks for). Only the receiver knows which it is, so frames arrive
//! here as raw bytes and are decoded by the handler.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Passes gRPC message bodies through as [`Bytes`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RawCodec;

/// Encoder half of [`RawCodec`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RawEncoder;

/// Decoder half of [`RawCodec`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
