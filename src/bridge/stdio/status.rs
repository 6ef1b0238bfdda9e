//! Errors as the frontend hands them to BuildKit (`LLBBridge.Return` with a
//! `google.rpc.Status`), shaped so that clients show them well.
//!
//! A Dockerfile error carries BuildKit's `errdefs.Source` detail (the
//! Dockerfile and the line range): buildx then prints the offending lines
//! with a `>>>` marker, as for BuildKit's own frontend, and BuildKit's
//! `# syntax=` forwarder keeps it instead of pointing at the syntax line.

use bollard_buildkit_proto::google::rpc::Status as RpcStatus;

use crate::bridge::BridgeError;
use crate::errdefs::ErrorSource;
use crate::frontend::FrontendError;

/// A status with no details.
pub fn rpc_status(code: tonic::Code, message: String) -> RpcStatus {
    RpcStatus {
        code: code as i32,
        message,
        details: Vec::new(),
    }
}

/// A frontend error as the client will print it. `dockerfile` is the
/// Dockerfile's text when it could be read: with it, a Dockerfile error
/// points at its line in the client's output.
pub fn frontend_status(error: &FrontendError, dockerfile: Option<&[u8]>) -> RpcStatus {
    let mut status = rpc_status(tonic::Code::Unknown, error.to_string());
    // A failed solve's details (the failing step's source lines, its
    // vertex) go back unchanged, as BuildKit's own frontend returns them.
    if let FrontendError::Bridge(BridgeError { details, .. }) = error {
        status.details = details.clone();
    }
    if let FrontendError::Dockerfile {
        filename,
        line,
        source_line,
        ..
    } = error
    {
        match dockerfile {
            Some(data) if *line > 0 => {
                let source = ErrorSource::lines(filename, data, *line, *line);
                status.details.push(source.to_any());
            }
            // Without the file the client cannot show the line: say it.
            _ => {
                if let Some(text) = source_line.as_deref().filter(|l| !l.trim().is_empty()) {
                    status.message = format!("{error}\n  | {}", text.trim_end());
                }
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errdefs::SOURCE_TYPE_URL;
    use prost::Message;

    fn dockerfile_error() -> FrontendError {
        FrontendError::Dockerfile {
            filename: "Dockerfile".to_string(),
            line: 3,
            source_line: Some("FORM busybox".to_string()),
            message: "unknown instruction: FORM".to_string(),
        }
    }

    #[test]
    fn dockerfile_errors_carry_their_source_for_the_client() {
        let text = b"# syntax=x\nFROM busybox\nFORM busybox\n";
        let status = frontend_status(&dockerfile_error(), Some(text));
        assert_eq!(status.message, "Dockerfile:3: unknown instruction: FORM");
        assert_eq!(status.details.len(), 1);
        assert_eq!(status.details[0].type_url, SOURCE_TYPE_URL);
        let source = ErrorSource::decode(status.details[0].value.as_slice()).unwrap();
        assert_eq!(source.info.unwrap().data, text);
        assert_eq!(source.ranges[0].start.unwrap().line, 3);
    }

    #[test]
    fn without_the_file_the_line_is_in_the_message() {
        let status = frontend_status(&dockerfile_error(), None);
        assert!(status.details.is_empty());
        assert_eq!(
            status.message,
            "Dockerfile:3: unknown instruction: FORM\n  | FORM busybox"
        );
    }

    #[test]
    fn a_failed_solve_keeps_the_daemon_s_details() {
        let source = ErrorSource::lines("Dockerfile", b"FROM a\nRUN false\n", 2, 2);
        let error = FrontendError::Bridge(BridgeError {
            message: "process did not complete successfully".to_string(),
            details: vec![source.to_any()],
        });
        let status = frontend_status(&error, None);
        assert_eq!(status.message, "process did not complete successfully");
        assert_eq!(status.details, vec![source.to_any()]);
    }
}
