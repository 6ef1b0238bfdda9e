//! Compiling a Dockerfile for the plan: the same compiler and options as a
//! build, without solving anything.
//!
//! The build's frontend core reads the Dockerfile through the daemon; the
//! plan takes it from the caller (the CLI reads the file from disk), so the
//! only thing it asks of a daemon is base image configs, through
//! [`BridgeResolver`]. Contexts are bare local sources here: their content
//! changes digests but never where a step runs.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;

use crate::dockerfile::{
    self,
    convert::{self, ConvertOptions, ImageContext, ImageResolver},
};
pub use crate::frontend::BridgeResolver;
use crate::frontend::{FrontendError, FrontendOptions, CONTEXT_LOCAL};
use crate::llb::{self, Local};
use crate::platform::Platform;

/// Compiles `source` (the Dockerfile's bytes) for every target platform of
/// `options` and marshals each graph as the build would
/// (`$BUILDPLATFORM` = `build_platform`).
pub async fn compile_dockerfile(
    source: &[u8],
    options: &FrontendOptions,
    build_platform: &Platform,
    resolver: &dyn ImageResolver,
) -> Result<Vec<(Platform, pb::Definition)>, FrontendError> {
    let dockerfile_error = |line: usize, message: String| FrontendError::Dockerfile {
        filename: options.filename.clone(),
        line,
        source_line: source_line(source, line),
        message,
    };
    let dockerfile =
        dockerfile::parse(source).map_err(|e| dockerfile_error(e.line, e.kind.to_string()))?;
    let named_contexts = options
        .named_contexts
        .iter()
        .map(|(name, value)| Ok((name.clone(), named_context(name, value)?)))
        .collect::<Result<BTreeMap<_, _>, FrontendError>>()?;
    let convert_options = ConvertOptions {
        target: options.target.clone(),
        target_platforms: options.platforms.clone(),
        build_platform: build_platform.clone(),
        build_args: options.build_args.clone(),
        labels: options.labels.clone(),
        context: Local::new(CONTEXT_LOCAL).into_state(),
        no_cache: options.no_cache.clone(),
        named_contexts,
        // An OCI layout is read through a session, which a plan has not:
        // its context stays a bare source, as above.
        image_contexts: crate::frontend::image_contexts(&options.named_contexts)?
            .into_iter()
            .filter(|(_, c)| matches!(c, ImageContext::Registry(_)))
            .collect(),
        source_date_epoch: options.source_date_epoch,
        // A plan is never solved: no daemon error to point at a line.
        source: None,
        run: options.run.clone(),
    };
    let builds = convert::convert(&dockerfile, &convert_options, resolver)
        .await
        .map_err(|e| dockerfile_error(e.line, e.message.clone()))?;
    let definitions = convert::marshal_builds(&builds)?;
    Ok(builds
        .into_iter()
        .map(|build| build.platform)
        .zip(definitions)
        .collect())
}

/// A named context as a state: an image where it names one (it can be a
/// `FROM` base whose platform matters), a local source otherwise.
fn named_context(name: &str, value: &str) -> Result<llb::State, FrontendError> {
    match value.strip_prefix("docker-image://") {
        Some(reference) => Ok(llb::Image::new(reference)?.into_state()),
        None => Ok(Local::new(name).into_state()),
    }
}

fn source_line(source: &[u8], line: usize) -> Option<String> {
    let text = String::from_utf8_lossy(source);
    line.checked_sub(1)
        .and_then(|index| text.lines().nth(index))
        .map(str::to_string)
}
