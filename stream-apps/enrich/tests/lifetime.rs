//! The lifetime models on the CDNOW sample against the published fits (Fader, Hardie & Lee 2005;
//! `lifetimes` 0.11.3), predictions against `lifetimes`' own numbers, and properties on random data.
//! The CDNOW data comes from `MINDSET_CDNOW_DIR` or `infra/fetch-cdnow.sh`; a test that cannot get
//! it fails and says why.

mod cdnow;

use std::{path::PathBuf, sync::OnceLock};

use mindset_enrich::lifetime::{
    BgNbd, BgNbdParams, ClvHorizon, CustomerSummary, FitOptions, GammaGamma, GammaGammaParams,
    LifetimeError, WEEKS_PER_MONTH, customer_lifetime_value,
};
use proptest::prelude::*;

fn data_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(cdnow::data_dir) {
        Ok(dir) => dir.clone(),
        Err(reason) => panic!("cannot get the CDNOW data: {reason}"),
    }
}

/// The calibration summaries of the 2,357 CDNOW customers, built from the raw transactions.
fn cdnow_customers() -> Vec<CustomerSummary> {
    let summaries = cdnow::calibration_summaries(&data_dir()).unwrap_or_else(|e| panic!("{e}"));
    summaries.into_iter().map(|(_, s)| s).collect()
}

/// `cdnow_customers_summary_with_transactions.csv` as `lifetimes` ships it: ID, x, t_x, T, zbar.
fn shipped_summary() -> Vec<(u32, CustomerSummary)> {
    let path = data_dir().join("cdnow_customers_summary_with_transactions.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num =
                |i: usize| -> f64 { f[i].trim().parse().unwrap_or_else(|_| panic!("{line:?}")) };
            let summary = CustomerSummary {
                frequency: num(1) as u32,
                recency: num(2),
                age: num(3),
                monetary_value: num(4),
            };
            (num(0) as u32, summary)
        })
        .collect()
}

/// `value` rounded to 3 significant digits.
fn sig3(value: f64) -> f64 {
    let magnitude = 10f64.powi(2 - value.abs().log10().floor() as i32);
    (value * magnitude).round() / magnitude
}

fn assert_close(actual: f64, expected: f64, relative: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= relative * expected.abs(),
        "{what}: {actual} vs {expected} (relative error {:.2e})",
        ((actual - expected) / expected).abs()
    );
}

#[test]
fn cdnow_summary_built_from_transactions_matches_the_one_lifetimes_ships() {
    let ours = cdnow::calibration_summaries(&data_dir()).unwrap_or_else(|e| panic!("{e}"));
    let shipped = shipped_summary();
    assert_eq!(ours.len(), 2357);
    assert_eq!(shipped.len(), 2357);
    // The shipped file rounds to 2 decimals.
    let near = |a: f64, b: f64| (a - b).abs() <= 0.005 + 1e-9;
    for ((id, s), (shipped_id, expected)) in ours.iter().zip(&shipped) {
        assert_eq!(id, shipped_id);
        assert_eq!(s.frequency, expected.frequency, "customer {id}");
        assert!(
            near(s.recency, expected.recency),
            "customer {id}: {s:?} vs {expected:?}"
        );
        assert!(
            near(s.age, expected.age),
            "customer {id}: {s:?} vs {expected:?}"
        );
        assert!(
            near(s.monetary_value, expected.monetary_value),
            "customer {id}: {s:?} vs {expected:?}"
        );
    }
    assert_eq!(ours.iter().filter(|(_, s)| s.frequency > 0).count(), 946);
}

#[test]
fn bg_nbd_on_cdnow_matches_the_published_parameters() {
    let customers = cdnow_customers();
    let fit = BgNbd::fit(&customers).expect("BG/NBD fit");
    let BgNbdParams { r, alpha, a, b } = fit.model.params();
    // Fader, Hardie & Lee (2005), and lifetimes' docs: r = 0.243, α = 4.414, a = 0.793, b = 2.426.
    for (name, fitted, published) in [
        ("r", r, 0.243),
        ("alpha", alpha, 4.414),
        ("a", a, 0.793),
        ("b", b, 2.426),
    ] {
        assert_eq!(
            sig3(fitted),
            sig3(published),
            "{name} = {fitted}, published {published}"
        );
    }
    // The paper's log-likelihood at the optimum: −9582.4.
    assert!(
        (fit.log_likelihood - -9582.4).abs() < 0.05,
        "log-likelihood {}",
        fit.log_likelihood
    );
    assert_eq!(fit.customers, 2357);
    assert!(
        fit.patterns < fit.customers,
        "aggregation into patterns: {}",
        fit.patterns
    );
}

#[test]
fn gamma_gamma_on_cdnow_matches_the_published_parameters() {
    let customers = cdnow_customers();
    let fit = GammaGamma::fit(&customers).expect("Gamma-Gamma fit");
    let GammaGammaParams { p, q, gamma } = fit.model.params();
    // lifetimes' docs: p = 6.25, q = 3.74, v = 15.44 (15.4477 unrounded).
    for (name, fitted, published) in [("p", p, 6.25), ("q", q, 3.74), ("gamma", gamma, 15.44)] {
        assert_eq!(
            sig3(fitted),
            sig3(published),
            "{name} = {fitted}, published {published}"
        );
    }
    assert_eq!(fit.customers, 946);
}

#[test]
fn fits_on_the_shipped_summary_agree_with_lifetimes_to_five_digits() {
    let customers: Vec<CustomerSummary> = shipped_summary().into_iter().map(|(_, s)| s).collect();
    // lifetimes 0.11.3 BetaGeoFitter().fit / GammaGammaFitter().fit on this file.
    let bg = BgNbd::fit(&customers).expect("BG/NBD fit").model.params();
    assert_close(bg.r, 0.24259292827982182, 1e-5, "r");
    assert_close(bg.alpha, 4.413532265271819, 1e-5, "alpha");
    assert_close(bg.a, 0.7928859664406882, 1e-5, "a");
    assert_close(bg.b, 2.42575238262586, 1e-5, "b");
    let gg = GammaGamma::fit(&customers)
        .expect("Gamma-Gamma fit")
        .model
        .params();
    assert_close(gg.p, 6.248802496075312, 1e-5, "p");
    assert_close(gg.q, 3.744588460923114, 1e-5, "q");
    assert_close(gg.gamma, 15.44774806492914, 1e-5, "gamma");
}

#[test]
fn fits_are_deterministic() {
    let customers = cdnow_customers();
    let bits = |p: BgNbdParams| [p.r, p.alpha, p.a, p.b].map(f64::to_bits);
    let first = BgNbd::fit(&customers).unwrap();
    let second = BgNbd::fit(&customers).unwrap();
    assert_eq!(bits(first.model.params()), bits(second.model.params()));
    assert_eq!(
        first.log_likelihood.to_bits(),
        second.log_likelihood.to_bits()
    );
    let gg_bits = |p: GammaGammaParams| [p.p, p.q, p.gamma].map(f64::to_bits);
    assert_eq!(
        gg_bits(GammaGamma::fit(&customers).unwrap().model.params()),
        gg_bits(GammaGamma::fit(&customers).unwrap().model.params())
    );
}

#[test]
fn fitted_log_likelihoods_equal_the_sum_over_customers() {
    let customers = cdnow_customers();
    let bg = BgNbd::fit(&customers).unwrap();
    assert_close(
        bg.model.log_likelihood(&customers).unwrap(),
        bg.log_likelihood,
        1e-10,
        "BG/NBD",
    );
    let gg = GammaGamma::fit(&customers).unwrap();
    assert_close(
        gg.model.log_likelihood(&customers).unwrap(),
        gg.log_likelihood,
        1e-10,
        "Gamma-Gamma",
    );
}

fn published_models() -> (BgNbd, GammaGamma) {
    (
        BgNbd::new(BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        })
        .unwrap(),
        GammaGamma::new(GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        })
        .unwrap(),
    )
}

#[test]
fn predictions_match_lifetimes() {
    let (bg, gg) = published_models();
    // (t, x, t_x, T, E[Y(t) | x, t_x, T], P(alive)) from lifetimes 0.11.3 with these parameters.
    // The first is the paper's worked example: 1.226 purchases in the next 39 weeks.
    let conditional = [
        (39.0, 2, 30.43, 38.86, 1.226028174767135, 0.726578570080673),
        (39.0, 0, 0.0, 38.86, 0.19509805201125396, 1.0),
        (52.0, 1, 5.0, 30.0, 0.561479387847236, 0.37916775696981875),
        (10.0, 15, 37.5, 38.86, 3.028025814034618, 0.9271732165132567),
        (
            1.0,
            5,
            2.0,
            38.0,
            4.968755428472886e-05,
            0.000404797580011352,
        ),
        (100.0, 30, 38.0, 38.5, 40.72913407988744, 0.9652809700044102),
        (
            4.345,
            3,
            20.0,
            25.0,
            0.34721490190980125,
            0.7530995034111597,
        ),
    ];
    for (t, x, t_x, big_t, expected, alive) in conditional {
        let what = format!("t={t} x={x} t_x={t_x} T={big_t}");
        assert_close(
            bg.expected_purchases(t, x, t_x, big_t).unwrap(),
            expected,
            1e-9,
            &what,
        );
        assert_close(bg.p_alive(x, t_x, big_t).unwrap(), alive, 1e-9, &what);
    }
    let unconditional = [
        (1.0, 0.05326789117165627),
        (10.0, 0.4324133622344203),
        (39.0, 1.1967231933207985),
        (78.0, 1.8605190579427455),
    ];
    for (t, expected) in unconditional {
        assert_close(
            bg.expected_purchases_new(t).unwrap(),
            expected,
            1e-9,
            &format!("E[X({t})]"),
        );
    }
    let spend = [
        (1, 10.0, 17.686318131256954),
        (2, 22.35, 24.663713910761157),
        (10, 50.0, 49.37921520539547),
        (0, 0.0, 35.21897810218978),
    ];
    for (x, m, expected) in spend {
        let actual = gg.conditional_expected_average_profit(x, m).unwrap();
        assert_close(actual, expected, 1e-12, &format!("E[Z | x={x}, m={m}]"));
    }
    // GammaGammaFitter.customer_lifetime_value(bgf, …, time=12, discount_rate=0.01, freq="W").
    let horizon = ClvHorizon {
        months: 12,
        monthly_discount_rate: 0.01,
        time_units_per_month: WEEKS_PER_MONTH,
    };
    let clv = [
        ((2, 30.43, 38.86, 22.35), 36.28921112559952),
        ((0, 0.0, 38.86, 0.0), 8.369004358920185),
        ((5, 20.0, 30.0, 15.0), 51.61802267947442),
        ((12, 38.0, 38.5, 40.0), 385.26818056347884),
    ];
    for ((frequency, recency, age, monetary_value), expected) in clv {
        let customer = CustomerSummary {
            frequency,
            recency,
            age,
            monetary_value,
        };
        let actual = customer_lifetime_value(&bg, &gg, &customer, &horizon).unwrap();
        assert_close(actual, expected, 1e-9, &format!("CLV of {customer:?}"));
    }
}

#[test]
fn cdnow_predictions_are_probabilities_and_grow_with_the_horizon() {
    let customers = cdnow_customers();
    let model = BgNbd::fit(&customers).unwrap().model;
    for c in &customers {
        let alive = model.p_alive(c.frequency, c.recency, c.age).unwrap();
        assert!((0.0..=1.0).contains(&alive), "{c:?}: P(alive) = {alive}");
        if c.frequency == 0 {
            assert_eq!(
                alive, 1.0,
                "{c:?}: no repeat purchase, so no chance to have dropped out"
            );
        }
        let mut previous = 0.0;
        for t in [0.0, 1.0, 4.345, 39.0, 78.0, 520.0] {
            let expected = model
                .expected_purchases(t, c.frequency, c.recency, c.age)
                .unwrap();
            assert!(
                expected >= previous,
                "{c:?}: E[Y({t})] = {expected} < {previous}"
            );
            previous = expected;
        }
    }
}

#[test]
fn fitting_reports_what_is_wrong_with_the_data() {
    let ok = CustomerSummary {
        frequency: 1,
        recency: 2.0,
        age: 5.0,
        monetary_value: 10.0,
    };
    assert!(matches!(
        BgNbd::fit(&[ok; 3]),
        Err(LifetimeError::TooFewCustomers {
            got: 3,
            need: 5,
            ..
        })
    ));
    let mut customers = vec![ok; 10];
    customers[7].age = f64::NAN;
    assert!(matches!(
        BgNbd::fit(&customers),
        Err(LifetimeError::NonFinite {
            index: 7,
            field: "age"
        })
    ));
    customers[7].age = 1.0;
    assert!(matches!(
        BgNbd::fit(&customers),
        Err(LifetimeError::InvalidData {
            index: 7,
            field: "recency",
            ..
        })
    ));
    customers[7] = CustomerSummary {
        monetary_value: -1.0,
        ..ok
    };
    assert!(matches!(
        GammaGamma::fit(&customers),
        Err(LifetimeError::InvalidData {
            index: 7,
            field: "monetary_value",
            ..
        })
    ));
    let stopped = BgNbd::fit_with(
        &cdnow_customers(),
        &FitOptions {
            max_iterations: 2,
            ..FitOptions::default()
        },
    );
    match stopped {
        Err(LifetimeError::DidNotConverge {
            iterations: 2,
            log_likelihood,
            ..
        }) => {
            assert!(log_likelihood.is_finite() && log_likelihood < -9582.4);
        }
        other => panic!("expected DidNotConverge after 2 iterations, got {other:?}"),
    }
    let message = BgNbd::fit(&[ok; 2]).unwrap_err().to_string();
    assert_eq!(
        message,
        "too few customers to fit BG/NBD: 2, need at least 5"
    );
}

#[test]
fn predictions_reject_impossible_histories() {
    let (bg, gg) = published_models();
    assert!(matches!(
        bg.p_alive(2, 10.0, 5.0),
        Err(LifetimeError::InvalidData { .. })
    ));
    assert!(matches!(
        bg.expected_purchases(-1.0, 2, 1.0, 5.0),
        Err(LifetimeError::InvalidArgument { name: "t", .. })
    ));
    assert!(matches!(
        bg.expected_purchases_new(f64::INFINITY),
        Err(LifetimeError::InvalidArgument { .. })
    ));
    assert!(matches!(
        bg.p_alive(0, 1.0, 5.0),
        Err(LifetimeError::InvalidData { .. })
    ));
    assert!(matches!(
        gg.conditional_expected_average_profit(1, f64::NAN),
        Err(LifetimeError::InvalidArgument { .. })
    ));
    let free_spender = GammaGamma::new(GammaGammaParams {
        p: 1.0,
        q: 0.5,
        gamma: 1.0,
    })
    .unwrap();
    assert!(matches!(
        free_spender.conditional_expected_average_profit(0, 0.0),
        Err(LifetimeError::InvalidParameter { name: "q", .. })
    ));
    assert!(matches!(
        BgNbd::new(BgNbdParams {
            r: 0.0,
            alpha: 1.0,
            a: 1.0,
            b: 1.0
        }),
        Err(LifetimeError::InvalidParameter { name: "r", .. })
    ));
}

/// A random valid history: x repeat purchases, the last at t_x ≤ T.
fn history() -> impl Strategy<Value = CustomerSummary> {
    (0u32..60, 0.0f64..200.0, 0.0f64..=1.0, 0.5f64..500.0).prop_map(
        |(frequency, age, share, value)| CustomerSummary {
            frequency,
            recency: if frequency == 0 { 0.0 } else { age * share },
            age,
            monetary_value: if frequency == 0 { 0.0 } else { value },
        },
    )
}

fn bg_params() -> impl Strategy<Value = BgNbdParams> {
    (0.01f64..20.0, 0.01f64..100.0, 0.01f64..20.0, 0.01f64..20.0)
        .prop_map(|(r, alpha, a, b)| BgNbdParams { r, alpha, a, b })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fits_on_random_summaries_never_panic_or_return_nan(
        customers in proptest::collection::vec(history(), 0..80),
    ) {
        match BgNbd::fit(&customers) {
            Ok(fit) => {
                let p = fit.model.params();
                prop_assert!([p.r, p.alpha, p.a, p.b, fit.log_likelihood].iter().all(|v| v.is_finite()), "{fit:?}");
            }
            Err(LifetimeError::DidNotConverge { log_likelihood, .. }) => prop_assert!(!log_likelihood.is_nan()),
            Err(LifetimeError::TooFewCustomers { .. } | LifetimeError::Degenerate { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
        match GammaGamma::fit(&customers) {
            Ok(fit) => {
                let p = fit.model.params();
                prop_assert!([p.p, p.q, p.gamma, fit.log_likelihood].iter().all(|v| v.is_finite()), "{fit:?}");
            }
            Err(LifetimeError::DidNotConverge { log_likelihood, .. }) => prop_assert!(!log_likelihood.is_nan()),
            Err(LifetimeError::TooFewCustomers { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn predictions_are_finite_probabilities_and_monotone(
        params in bg_params(),
        customer in history(),
        t in 0.0f64..200.0,
        dt in 0.0f64..50.0,
    ) {
        let model = BgNbd::new(params).unwrap();
        let CustomerSummary { frequency, recency, age, .. } = customer;
        let alive = model.p_alive(frequency, recency, age).unwrap();
        prop_assert!((0.0..=1.0).contains(&alive), "P(alive) = {alive}");
        if frequency == 0 {
            prop_assert_eq!(alive, 1.0);
        }
        let now = model.expected_purchases(t, frequency, recency, age).unwrap();
        let later = model.expected_purchases(t + dt, frequency, recency, age).unwrap();
        prop_assert!(now.is_finite() && now >= 0.0, "E[Y({t})] = {now}");
        prop_assert!(later >= now * (1.0 - 1e-9), "E[Y({})] = {later} < E[Y({t})] = {now}", t + dt);
        let new = model.expected_purchases_new(t).unwrap();
        prop_assert!(new.is_finite() && new >= 0.0, "E[X({t})] = {new}");
        let ll = model.customer_log_likelihood(frequency, recency, age).unwrap();
        prop_assert!(ll.is_finite(), "log-likelihood {ll}");
        if frequency == 0 {
            // Without repeat purchases the likelihood is a probability, not a density.
            prop_assert!(ll <= 1e-12, "log-likelihood {ll}");
        }
    }
}
