//! Build script: rebuild when a shipped template or a studio file is added or removed
//! (`include_dir!` embeds `templates/` and `studio/`, but tracks only the files that existed
//! at the last build).

fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=studio");
}
