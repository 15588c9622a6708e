//! Gives this crate's own binaries (tests, benches) an rpath to `$LIBTORCH/lib`, so running them needs
//! no `LD_LIBRARY_PATH`. `infra/fetch-libtorch.sh` prints the `LIBTORCH` to export. A binary of another
//! crate that links this one (the `mindset` CLI) needs the same link argument or `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libtorch}/lib");
    }
}
