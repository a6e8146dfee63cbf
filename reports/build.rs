//! Embeds every paper table file (`papers/*.yaml`) in the library, so that the binary
//! knows the papers wherever it runs. Adding a paper is adding a file: no code changes.

use std::path::Path;
use std::{env, fs};

fn main() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("papers");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut code =
        String::from("/// (file name, contents) of every paper table file, sorted by name.\n");
    code.push_str("pub(crate) const EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_papers.rs");
    fs::write(out, code).unwrap();
}
