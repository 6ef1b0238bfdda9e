//! Splitting of one comma-separated flag value into fields, with the quoting
//! rules of Go's `encoding/csv` (as used through `tonistiigi/go-csvvalue` by
//! buildx for `--output`, `--cache-from`, `--secret`, ...).
//!
//! Users copy buildx command lines, so a quoted field must mean the same here:
//! `"name=a,b"` is one field `name=a,b`, `""` inside quotes is a literal quote,
//! and a stray quote is an error rather than a silently different value.

use thiserror::Error;

/// A flag value that Go's csv reader would reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsvError {
    /// A `"` inside a field that did not start with a quote (Go: `ErrBareQuote`).
    #[error("bare \" in non-quoted field at column {column} of {input:?}")]
    BareQuote {
        /// The whole flag value.
        input: String,
        /// 1-based character column of the offending quote.
        column: usize,
    },
    /// A quoted field that is not closed, or has text after its closing quote
    /// (Go: `ErrQuote`).
    #[error("extraneous or missing \" in quoted field at column {column} of {input:?}")]
    Quote {
        /// The whole flag value.
        input: String,
        /// 1-based character column where the problem was found.
        column: usize,
    },
}

/// Splits `input` into fields like Go's `csv.Reader.Read` with default settings
/// (comma separator, no lazy quotes, leading spaces kept).
///
/// An empty input yields one empty field; callers decide whether that is an
/// error, because the meaning differs per flag.
pub fn split_fields(input: &str) -> Result<Vec<String>, CsvError> {
    let chars: Vec<char> = input.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            // Quoted field: runs to the closing quote; `""` is an escaped quote.
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(CsvError::Quote {
                            input: input.to_string(),
                            column: i + 1,
                        })
                    }
                    Some('"') => match chars.get(i + 1) {
                        Some('"') => {
                            field.push('"');
                            i += 2;
                        }
                        Some(',') => {
                            i += 2;
                            fields.push(field);
                            break;
                        }
                        None => {
                            fields.push(field);
                            return Ok(fields);
                        }
                        Some(_) => {
                            return Err(CsvError::Quote {
                                input: input.to_string(),
                                column: i + 2,
                            })
                        }
                    },
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            // Unquoted field: runs to the next comma; quotes are not allowed.
            loop {
                match chars.get(i) {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        i += 1;
                        fields.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err(CsvError::BareQuote {
                            input: input.to_string(),
                            column: i + 1,
                        })
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_fields(s).expect("valid csv")
    }

    #[test]
    fn plain_fields() {
        assert_eq!(split("type=image,name=a/b:1"), ["type=image", "name=a/b:1"]);
        assert_eq!(split("one"), ["one"]);
    }

    #[test]
    fn empty_input_and_empty_fields() {
        assert_eq!(split(""), [""]);
        assert_eq!(split("a,,b,"), ["a", "", "b", ""]);
    }

    #[test]
    fn quoted_field_keeps_commas() {
        assert_eq!(
            split(r#"type=image,"name=a,b",push=true"#),
            ["type=image", "name=a,b", "push=true"]
        );
    }

    #[test]
    fn doubled_quote_is_literal() {
        assert_eq!(split(r#""a ""b"" c",d"#), [r#"a "b" c"#, "d"]);
        assert_eq!(split(r#""""#), [""]);
    }

    #[test]
    fn spaces_are_kept() {
        assert_eq!(split(" a , b"), [" a ", " b"]);
    }

    #[test]
    fn bare_quote_is_an_error() {
        assert!(matches!(
            split_fields(r#"name=a"b"#),
            Err(CsvError::BareQuote { column: 7, .. })
        ));
        // Go does not trim leading space before a quote by default.
        assert!(matches!(
            split_fields(r#"a, "b""#),
            Err(CsvError::BareQuote { .. })
        ));
    }

    #[test]
    fn unterminated_or_trailing_text_after_quote_is_an_error() {
        assert!(matches!(
            split_fields(r#""name=a,b"#),
            Err(CsvError::Quote { .. })
        ));
        assert!(matches!(
            split_fields(r#""a"b,c"#),
            Err(CsvError::Quote { column: 4, .. })
        ));
    }

    #[test]
    fn non_ascii_is_preserved() {
        assert_eq!(split("label=héllo,\"x=ü,ö\""), ["label=héllo", "x=ü,ö"]);
    }
}
