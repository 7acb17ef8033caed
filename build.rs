//! Build script: rebuild when a shipped template is added or removed (`include_dir!`
//! embeds `templates/`, but tracks only the files that existed at the last build).

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
