//! Links the `liftos` command as a position-dependent executable on Linux.
//!
//! A position-independent executable has every pointer in its read-only data relocated by the
//! dynamic loader at start: for this binary 1.9 MB of relocation records read and 1.8 MB of
//! `.data.rel.ro` written, 3.7 MiB of resident memory in every process before `main` runs
//! (`liftos --help` peaks at 9.9 MiB as a PIE, 6.2 MiB without). The command reads the user's
//! own files on the user's machine, where that fixed size is most of a small input's peak; the
//! Lambdas, which take requests from the network, keep the default (PIE, so ASLR covers their
//! code too).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
