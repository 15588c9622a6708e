//! `small.jsonl` is the generator's small set, byte for byte. When the generator changes on
//! purpose, regenerate it: `UPDATE_GOLDEN=1 cargo test -p mindset-sample-events --test golden`.

use std::path::PathBuf;

use mindset_sample_events::{GenConfig, generate, read_jsonl, write_jsonl};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("small.jsonl")
}

#[test]
fn small_jsonl_is_what_the_generator_makes() {
    let path = golden_path();
    let events = generate(&GenConfig::small());
    let mut fresh = Vec::new();
    write_jsonl(&events, &mut fresh).unwrap();
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, &fresh).unwrap();
        eprintln!("wrote {} ({} events)", path.display(), events.len());
        return;
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test -p mindset-sample-events --test golden",
            path.display()
        )
    });
    if stored != fresh {
        let stored = String::from_utf8_lossy(&stored);
        let fresh = String::from_utf8_lossy(&fresh);
        let (n, (old, new)) = stored
            .lines()
            .chain(std::iter::repeat(""))
            .zip(fresh.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .expect("the files differ somewhere");
        panic!(
            "small.jsonl differs from the generator from line {}:\n  file:      {old}\n  generator: {new}\n\
             If the change is intended: UPDATE_GOLDEN=1 cargo test -p mindset-sample-events --test golden",
            n + 1
        );
    }
    assert_eq!(read_jsonl(stored.as_slice()).unwrap(), events);
}
