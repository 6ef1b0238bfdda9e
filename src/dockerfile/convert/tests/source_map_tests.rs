//! The graphs' source maps: each step's op points at its Dockerfile lines.

use std::sync::Arc;

use bollard_buildkit_proto::pb;

use super::*;

const DOCKERFILE: &str = "FROM busybox\nWORKDIR /app\nRUN echo one && \\\n  false\nCOPY a b\n";

/// The definition of `df` converted with its text as the source.
fn definition(df: &str) -> pb::Definition {
    let mut o = opts(&["linux/amd64"]);
    o.source = Some(Arc::new(llb::SourceFile {
        filename: "app.Dockerfile".to_string(),
        language: "Dockerfile".to_string(),
        data: df.as_bytes().to_vec(),
    }));
    let build = run(df, &o).expect("convert").remove(0);
    llb::marshal_with(
        &build.state,
        &MarshalOptions {
            default_platform: build.platform.clone(),
        },
    )
    .expect("marshal")
}

/// The (first, last) lines the op named `name` points at.
fn lines_of(def: &pb::Definition, name: &str) -> (i32, i32) {
    let source = def.source.as_ref().expect("a source map");
    let (digest, _) = def
        .metadata
        .iter()
        .find(|(_, md)| custom_name(md).ends_with(name))
        .unwrap_or_else(|| panic!("no op named {name}"));
    let location = &source.locations[digest].locations[0];
    assert_eq!(location.source_index, 0);
    let range = &location.ranges[0];
    (range.start.unwrap().line, range.end.unwrap().line)
}

#[test]
fn every_step_points_at_its_lines() {
    let def = definition(DOCKERFILE);
    assert_eq!(lines_of(&def, "FROM docker.io/library/busybox:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), (1, 1));
    assert_eq!(lines_of(&def, "WORKDIR /app"), (2, 2));
    assert_eq!(lines_of(&def, "RUN echo one &&   false"), (3, 4));
    assert_eq!(lines_of(&def, "COPY a b"), (5, 5));
    let info = &def.source.as_ref().unwrap().infos;
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].filename, "app.Dockerfile");
    assert_eq!(info[0].language, "Dockerfile");
    assert_eq!(info[0].data, DOCKERFILE.as_bytes());
}

#[test]
fn the_source_map_does_not_change_a_digest() {
    let with = definition(DOCKERFILE);
    let build = one(DOCKERFILE);
    let without = llb::marshal_with(
        &build.state,
        &MarshalOptions {
            default_platform: build.platform.clone(),
        },
    )
    .unwrap();
    assert!(without.source.is_none());
    assert_eq!(with.def, without.def);
}
