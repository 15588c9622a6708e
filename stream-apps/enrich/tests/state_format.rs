//! A changelog written by an older enrich is read back to the same state.

use mindset_enrich::core::{Enrich, EnrichConfig, STATE_FORMAT, StateId, state_json};
use mindset_schemas::examples::{event, every_payload};

/// Every payload type, twice (fields set and unset), for one customer of one shop.
fn customer_state() -> Enrich {
    let mut core = Enrich::new(EnrichConfig::default());
    for (i, p) in every_payload(true)
        .into_iter()
        .chain(every_payload(false))
        .enumerate()
    {
        let customer = (!p.is_catalog()).then_some("cust-1");
        core.apply(&event("shop-1", customer, i as u64, p));
    }
    core
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `fixtures/state_format_1.hex` is the record enrich wrote for this customer in format 1 (event
/// ids as a sequence of varints), before format 2 (one byte string).
#[test]
fn a_format_1_record_restores_the_state_format_2_writes() {
    let id = StateId::Key("cust-1".into());
    let old = unhex(include_str!("fixtures/state_format_1.hex").trim());
    assert_eq!(old[0], 1);
    let current = customer_state().state_record("shop-1", &id).unwrap();
    assert_eq!(current[0], STATE_FORMAT);
    assert_ne!(STATE_FORMAT, 1);
    assert!(
        current.len() < old.len(),
        "{} against {} bytes",
        current.len(),
        old.len()
    );

    let mut restored = Enrich::new(EnrichConfig::default());
    restored.restore_record("shop-1", &id, &old).unwrap();
    restored.finish_restore();
    assert_eq!(restored.state_record("shop-1", &id).unwrap(), current);
    // The JSON view for people (`mindset tail enrich.state.v1`), with the ids as hex.
    let json = state_json(&id, &current).unwrap();
    assert_eq!(state_json(&id, &old).unwrap(), json);
    let ids = json["customer"]["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 28);
    assert!(
        ids.iter().all(|h| h.as_str().unwrap().len() == 32),
        "{ids:?}"
    );

    // Ids that are not whole 16-byte hashes are an error, not a panic.
    let mut cut = current.clone();
    let ids_len_at = 2; // format byte, enum variant, then the ids' length
    cut[ids_len_at] = cut[ids_len_at].wrapping_sub(1);
    assert!(restored.restore_record("shop-1", &id, &cut).is_err());
}
