//! Rebuild when a migration changes: the binary embeds them (`sqlx::migrate!`).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
