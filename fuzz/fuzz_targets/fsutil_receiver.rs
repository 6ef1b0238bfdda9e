//! The fsutil receiver (what writes a local export) fed a packet stream
//! decoded from arbitrary bytes, as the daemon's DiffCopy stream would
//! deliver it: it must end (Ok or Err) without a panic, and never write
//! outside its destination.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use crossbuild::client::filesync::{receive, Packet};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// The input as length-delimited `Packet` messages (the gRPC stream's
/// messages, one after the other); undecodable rest ends the stream with
/// an error, as a broken stream would.
fn packets(mut data: &[u8]) -> Vec<Result<Packet, String>> {
    let mut packets = Vec::new();
    while !data.is_empty() && packets.len() < 256 {
        match Packet::decode_length_delimited(&mut data) {
            Ok(packet) => packets.push(Ok(packet)),
            Err(err) => {
                packets.push(Err(err.to_string()));
                break;
            }
        }
    }
    packets
}

fuzz_target!(|data: &[u8]| {
    let packets = packets(data);
    // No room for a scratch directory (a full disk) says nothing about the
    // receiver: skip the input rather than report a crash.
    let Ok(parent) = tempfile::tempdir() else {
        return;
    };
    let dest = parent.path().join("dest");
    if std::fs::create_dir(&dest).is_err() {
        return;
    }
    runtime().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Packet, ()>>(1024);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let incoming = futures::stream::iter(packets);
        let ended =
            tokio::time::timeout(Duration::from_secs(10), receive(&dest, incoming, tx)).await;
        assert!(ended.is_ok(), "the receiver hung");
        let _ = drain.await;
    });
    let siblings: Vec<_> = std::fs::read_dir(parent.path())
        .expect("read parent")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        siblings,
        ["dest"],
        "the receiver wrote outside its destination"
    );
});
