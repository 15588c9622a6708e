//! Shared helpers of the end-to-end tests in `e2e.rs`.

use mindset_pipeline::config::Config;

/// A configuration whose embedded log lives in `dir`.
pub fn config_in(dir: &std::path::Path) -> Config {
    let mut c = Config::defaults();
    c.data_dir = dir.to_path_buf();
    c
}
