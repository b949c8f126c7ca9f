//! Validates every WGSL kernel with naga at build time, so a shader error fails the build with
//! the shader's file and line instead of surfacing at run time on a user's machine.
//!
//! Each kernel in `shaders/` is validated the way the library compiles it: its own source
//! followed by `common.wgsl` (the bindings every kernel shares). The common part is appended, not
//! prepended, so line numbers in an error are the kernel file's own.

use std::fs;
use std::path::Path;

fn main() {
    let dir = Path::new("shaders");
    println!("cargo:rerun-if-changed={}", dir.display());
    let common_path = dir.join("common.wgsl");
    let common = fs::read_to_string(&common_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", common_path.display()));
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl") && *p != common_path)
        .collect();
    entries.sort();
    let mut failed = Vec::new();
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let own = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let source = format!("{own}\n{common}");
        let shown = path.display().to_string();
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => {
                failed.push(e.emit_to_string_with_path(&source, &shown));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        );
        if let Err(e) = validator.validate(&module) {
            failed.push(e.emit_to_string_with_path(&source, &shown));
        }
    }
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("{f}");
        }
        panic!(
            "{} shader(s) failed naga validation (lines past a kernel's end are in common.wgsl):\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
}
