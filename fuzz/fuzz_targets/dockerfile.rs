//! The Dockerfile parser, stage resolution and word expansion on arbitrary
//! bytes: each must return (Ok or Err), never panic or run away.

#![no_main]

use crossbuild::dockerfile::{self, shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = dockerfile::parse(data) {
        let _ = parsed.stages();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let env = vec![
            ("a".to_string(), "xyz".to_string()),
            ("b".to_string(), "$a$a".to_string()),
        ];
        for escape in ['\\', '`'] {
            let lexer = shell::Lexer::new(escape);
            let _ = lexer.process_word(text, &env);
            let _ = lexer.process_words(text, &env);
        }
    }
});
