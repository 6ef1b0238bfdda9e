//! `crossbuild debug llb`: a marshalled LLB definition as readable JSON,
//! one entry per op (like `buildctl debug dump-llb`).

use std::io::Read;
use std::path::Path;

use bollard_buildkit_proto::pb;
use crossbuild::llb;
use prost::Message;

/// Reads a definition from `file` (or stdin for `-` or none) and prints it.
pub fn dump_llb(file: Option<&Path>) -> Result<(), String> {
    let bytes = read_input(file)?;
    let definition = pb::Definition::decode(bytes.as_slice())
        .map_err(|e| format!("not a marshalled LLB definition: {e}"))?;
    let dump = llb::dump_json(&definition).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&dump).map_err(|e| e.to_string())?;
    outln!("{text}");
    Ok(())
}

/// The bytes of `file`, or of stdin when it is `-` or absent.
pub fn read_input(file: Option<&Path>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            Ok(bytes)
        }
    }
}
