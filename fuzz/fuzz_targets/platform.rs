//! Platform parsing: whatever parses prints as something that parses to
//! the same platform again; lists never panic.

#![no_main]

use crossbuild::platform::Platform;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(platform) = text.parse::<Platform>() {
        let printed = platform.to_string();
        let again: Platform = printed
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again.to_string(), printed, "{text:?}");
    }
    let _ = Platform::parse_list(text);
});
