//! The build script of every package whose binaries link libtorch (mindset-nlp, the `mindset` CLI,
//! the end-to-end tests): gives their binaries, tests and benches an rpath to `$LIBTORCH/lib`, so
//! running them needs no `LD_LIBRARY_PATH`. `infra/fetch-libtorch.sh` prints the `LIBTORCH` to export.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libtorch}/lib");
    }
}
