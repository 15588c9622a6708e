//! Customer-lifetime models: BG/NBD for the number of future purchases and the probability that a
//! customer is still "alive", Gamma–Gamma for the value of a purchase, and the discounted
//! customer lifetime value that combines them.
//!
//! This module owns the maths only: no async, no I/O, no clock. Time is any unit the caller
//! picks (days, weeks) as long as every argument uses the same one.
//!
//! - BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
//!   the Pareto/NBD model", *Marketing Science* 24(2). The log-likelihood is the paper's eq. 6
//!   (the one `lifetimes.BetaGeoFitter` maximises), the conditional expectation is eq. 10, the
//!   unconditional one eq. 9, and P(alive) is Hardie's note 021.
//! - Gamma–Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer
//!   base analysis", *JMR* 42(4), and Hardie's note 025 (`lifetimes.GammaGammaFitter`).
//! - CLV: the discounted monthly sum of `lifetimes.utils._customer_lifetime_value`.
//!
//! Fits maximise the likelihood over log-parameters with BFGS and analytic gradients, on data
//! aggregated by unique pattern with weights. They are deterministic: the same input gives
//! bit-identical parameters.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};
use thiserror::Error;

/// Weeks per month as `lifetimes` counts them (`freq="W"`), for [`ClvHorizon::time_units_per_month`].
pub const WEEKS_PER_MONTH: f64 = 4.345;
/// Days per month as `lifetimes` counts them (`freq="D"`), for [`ClvHorizon::time_units_per_month`].
pub const DAYS_PER_MONTH: f64 = 30.0;

/// Fewest customers [`BgNbd::fit`] accepts: one more than it has parameters.
pub const BG_NBD_MIN_CUSTOMERS: usize = 5;
/// Fewest repeat customers [`GammaGamma::fit`] accepts: one more than it has parameters.
pub const GAMMA_GAMMA_MIN_CUSTOMERS: usize = 4;

/// Most terms a hypergeometric series may take before it is declared not to converge.
const MAX_SERIES_TERMS: usize = 10_000_000;
/// Relative size of the neglected tail of a series.
const SERIES_EPSILON: f64 = 1e-16;
/// Log-parameters beyond this magnitude (parameters outside e^±40) are outside the search box.
const MAX_LOG_PARAM: f64 = 40.0;

/// What can go wrong fitting or using a lifetime model.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LifetimeError {
    #[error("too few customers to fit {model}: {got}, need at least {need}")]
    TooFewCustomers {
        model: &'static str,
        got: usize,
        need: usize,
    },
    #[error("customer #{index} has a non-finite {field}")]
    NonFinite { index: usize, field: &'static str },
    #[error("customer #{index} has an invalid {field} ({value}): {reason}")]
    InvalidData {
        index: usize,
        field: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("cannot fit {model}: {reason}")]
    Degenerate {
        model: &'static str,
        reason: &'static str,
    },
    #[error(
        "{model} fit did not converge after {iterations} iterations (last log-likelihood {log_likelihood})"
    )]
    DidNotConverge {
        model: &'static str,
        iterations: usize,
        log_likelihood: f64,
    },
    #[error("invalid argument {name} = {value}: {reason}")]
    InvalidArgument {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("invalid model parameter {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("hypergeometric series at z = {z} did not converge within {terms} terms")]
    SeriesDidNotConverge { terms: usize, z: f64 },
}

pub type Result<T, E = LifetimeError> = std::result::Result<T, E>;

/// One purchase of one customer: when (in the model's time unit) and for how much.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub time: f64,
    pub amount: f64,
}

/// A customer's purchase history as both models see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// x: number of repeat purchases (purchases after the first).
    pub frequency: u32,
    /// t_x: time from the first purchase to the last one (0 when `frequency` is 0).
    pub recency: f64,
    /// T: time from the first purchase to the end of observation.
    pub age: f64,
    /// Mean amount of the repeat purchases (0 when `frequency` is 0).
    pub monetary_value: f64,
}

impl CustomerSummary {
    /// Summarises one customer's purchases observed up to `observation_end`, the way `lifetimes`'
    /// `summary_data_from_transaction_data` does: purchases at the same time are one purchase
    /// (amounts summed; quantise times to the period first, e.g. whole days), purchases after
    /// `observation_end` are ignored, and the first purchase counts in neither `frequency` nor
    /// `monetary_value`. `None` when no purchase falls at or before `observation_end`.
    pub fn from_purchases(purchases: &[Purchase], observation_end: f64) -> Result<Option<Self>> {
        if !observation_end.is_finite() {
            return Err(LifetimeError::InvalidArgument {
                name: "observation_end",
                value: observation_end,
                reason: "must be finite",
            });
        }
        let mut seen = Vec::with_capacity(purchases.len());
        for (index, purchase) in purchases.iter().enumerate() {
            if !purchase.time.is_finite() {
                return Err(LifetimeError::NonFinite {
                    index,
                    field: "purchase time",
                });
            }
            if !purchase.amount.is_finite() {
                return Err(LifetimeError::NonFinite {
                    index,
                    field: "purchase amount",
                });
            }
            if purchase.time <= observation_end {
                seen.push(*purchase);
            }
        }
        seen.sort_by(|l, r| l.time.total_cmp(&r.time));
        let mut periods: Vec<Purchase> = Vec::with_capacity(seen.len());
        for purchase in seen {
            match periods.last_mut() {
                Some(last) if last.time == purchase.time => last.amount += purchase.amount,
                _ => periods.push(purchase),
            }
        }
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            return Ok(None);
        };
        let frequency = u32::try_from(periods.len() - 1).unwrap_or(u32::MAX);
        let monetary_value = if frequency == 0 {
            0.0
        } else {
            periods[1..].iter().map(|p| p.amount).sum::<f64>() / f64::from(frequency)
        };
        Ok(Some(Self {
            frequency,
            recency: last.time - first.time,
            age: observation_end - first.time,
            monetary_value,
        }))
    }
}

/// When a fit stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Most BFGS iterations.
    pub max_iterations: usize,
    /// Converged when every component of the gradient of the mean negative log-likelihood (per
    /// customer, over log-parameters, in the fit's internal scaling) is at most this. When no
    /// step lowers the objective beyond rounding, a gradient up to 1000 times this also counts.
    pub gradient_tolerance: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_iterations: 500,
            gradient_tolerance: 1e-9,
        }
    }
}

impl FitOptions {
    fn validate(&self) -> Result<()> {
        if self.max_iterations == 0 {
            return Err(LifetimeError::InvalidArgument {
                name: "max_iterations",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return Err(LifetimeError::InvalidArgument {
                name: "gradient_tolerance",
                value: self.gradient_tolerance,
                reason: "must be finite and > 0",
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// BG/NBD
// ---------------------------------------------------------------------------------------------

/// BG/NBD parameters: purchase rates λ ~ Gamma(shape r, rate α); drop-out probabilities after
/// each purchase p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A BG/NBD model with valid parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    params: BgNbdParams,
}

/// The result of [`BgNbd::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdFit {
    pub model: BgNbd,
    /// Total log-likelihood of the data at the fitted parameters, in the data's time unit.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub customers: usize,
    /// Unique (x, t_x, T) patterns the likelihood was evaluated on.
    pub patterns: usize,
}

impl BgNbd {
    /// A model from known parameters; each must be finite and > 0.
    pub fn new(params: BgNbdParams) -> Result<Self> {
        positive_parameter("r", params.r)?;
        positive_parameter("alpha", params.alpha)?;
        positive_parameter("a", params.a)?;
        positive_parameter("b", params.b)?;
        Ok(Self { params })
    }

    pub fn params(&self) -> BgNbdParams {
        self.params
    }

    /// Maximum-likelihood fit with [`FitOptions::default`].
    pub fn fit(customers: &[CustomerSummary]) -> Result<BgNbdFit> {
        Self::fit_with(customers, &FitOptions::default())
    }

    /// Maximum-likelihood fit of (r, α, a, b) on the customers' (frequency, recency, age).
    ///
    /// Time is scaled so the oldest customer has age 1 (α is scaled back), the data is grouped by
    /// unique (x, t_x, T) with weights, and BFGS minimises the mean negative log-likelihood over
    /// (ln r, ln α, ln a, ln b) from (0, 0, 0, 0).
    pub fn fit_with(customers: &[CustomerSummary], options: &FitOptions) -> Result<BgNbdFit> {
        const MODEL: &str = "BG/NBD";
        options.validate()?;
        for (index, c) in customers.iter().enumerate() {
            validate_history(index, c.frequency, c.recency, c.age)?;
        }
        if customers.len() < BG_NBD_MIN_CUSTOMERS {
            return Err(LifetimeError::TooFewCustomers {
                model: MODEL,
                got: customers.len(),
                need: BG_NBD_MIN_CUSTOMERS,
            });
        }
        let max_age = customers.iter().map(|c| c.age).fold(0.0, f64::max);
        if max_age <= 0.0 {
            return Err(LifetimeError::Degenerate {
                model: MODEL,
                reason: "every customer has age 0",
            });
        }
        let scale = 1.0 / max_age;
        let data = BgNbdData::new(customers, scale);
        let total_weight = customers.len() as f64;
        let weighted_frequency: f64 = customers.iter().map(|c| f64::from(c.frequency)).sum();
        // ℓ(α, t_x, T) = ℓ(sα, s·t_x, s·T) + x·ln s: the Jacobian of the time scaling.
        let log_likelihood =
            |mean_nll: f64| -mean_nll * total_weight + weighted_frequency * scale.ln();
        let unscale = |theta: &[f64; 4]| BgNbdParams {
            r: theta[0].exp(),
            alpha: theta[1].exp() / scale,
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        match bfgs(|theta, grad| data.objective(theta, grad), [0.0; 4], options) {
            Ok(optimum) => Ok(BgNbdFit {
                model: Self::new(unscale(&optimum.x))?,
                log_likelihood: log_likelihood(optimum.value),
                iterations: optimum.iterations,
                customers: customers.len(),
                patterns: data.rows.len(),
            }),
            Err(stalled) => Err(LifetimeError::DidNotConverge {
                model: MODEL,
                iterations: stalled.iterations,
                log_likelihood: log_likelihood(stalled.value),
            }),
        }
    }

    /// Log-likelihood of one customer's (x, t_x, T) (eq. 6 of the paper):
    ///
    /// L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    ///   + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
    pub fn customer_log_likelihood(&self, frequency: u32, recency: f64, age: f64) -> Result<f64> {
        validate_history(0, frequency, recency, age)?;
        let BgNbdParams { r, alpha, a, b } = self.params;
        let x = f64::from(frequency);
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let a3 = -(r + x) * (alpha + age).ln();
        let tail = if frequency > 0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + recency).ln();
            log_add_exp(a3, a4)
        } else {
            a3
        };
        Ok(a1 + a2 + tail)
    }

    /// Total log-likelihood of the customers.
    pub fn log_likelihood(&self, customers: &[CustomerSummary]) -> Result<f64> {
        let mut total = 0.0;
        for (index, c) in customers.iter().enumerate() {
            total += self
                .customer_log_likelihood(c.frequency, c.recency, c.age)
                .map_err(|e| with_index(e, index))?;
        }
        Ok(total)
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)); 1 when x = 0
    /// (in BG/NBD a customer can only drop out right after a repeat purchase).
    pub fn p_alive(&self, frequency: u32, recency: f64, age: f64) -> Result<f64> {
        validate_history(0, frequency, recency, age)?;
        Ok(self.p_alive_unchecked(frequency, recency, age))
    }

    fn p_alive_unchecked(&self, frequency: u32, recency: f64, age: f64) -> f64 {
        if frequency == 0 {
            return 1.0;
        }
        let BgNbdParams { r, alpha, a, b } = self.params;
        let x = f64::from(frequency);
        let log_odds_dead =
            (a / (b + x - 1.0)).ln() + (r + x) * ((alpha + age) / (alpha + recency)).ln();
        logistic(-log_odds_dead)
    }

    /// E[Y(t) | x, t_x, T]: expected repeat purchases in the next `t` time units of a customer with
    /// history (x, t_x, T) (eq. 10 of the paper):
    ///
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
    ///   / (1 + δ(x>0) a/(b+x−1) ((α+T)/(α+t_x))^(r+x))
    ///
    /// Evaluated in a form without the removable singularity at a = 1 and without overflow for
    /// large x: Euler's transformation turns z₀^(r+x) ₂F₁(r+x, b+x; c; z) into
    /// z₀^(a−1) ₂F₁(c−r−x, a−1; c; z) with z₀ = 1 − z and c = a+b+x−1, whose series minus 1 has
    /// the factor (a−1), so the bracket over (a−1) is
    /// c·(1 − z₀^(a−1))/(a−1) − z₀^(a−1) · A z · ₃F₂(A+1, a, 1; c+1, 2; z) with A = a+b−1−r.
    pub fn expected_purchases(
        &self,
        t: f64,
        frequency: u32,
        recency: f64,
        age: f64,
    ) -> Result<f64> {
        validate_history(0, frequency, recency, age)?;
        validate_horizon(t)?;
        let alive = self.p_alive_unchecked(frequency, recency, age);
        Ok(alive * self.expected_purchases_if_alive(t, frequency, age)?)
    }

    /// E[X(t)]: expected repeat purchases in `t` time units of a customer who just made a first
    /// purchase (eq. 9 of the paper; eq. 10 with x = t_x = T = 0).
    pub fn expected_purchases_new(&self, t: f64) -> Result<f64> {
        validate_horizon(t)?;
        self.expected_purchases_if_alive(t, 0, 0.0)
    }

    fn expected_purchases_if_alive(&self, t: f64, frequency: u32, age: f64) -> Result<f64> {
        Ok(self.expected_purchases_if_alive_at(&[t], frequency, age)?[0])
    }

    /// [`BgNbd::expected_purchases_if_alive`] at several horizons at once (a CLV needs one per
    /// month): the ₃F₂ series of every horizon have the same coefficients and differ only in z, so
    /// each coefficient is computed once rather than once per horizon.
    fn expected_purchases_if_alive_at(
        &self,
        ts: &[f64],
        frequency: u32,
        age: f64,
    ) -> Result<Vec<f64>> {
        let BgNbdParams { r, alpha, a, b } = self.params;
        let x = f64::from(frequency);
        let c = a + b + x - 1.0;
        let big_a = a + b - 1.0 - r;
        let zs: Vec<f64> = ts.iter().map(|t| t / (alpha + age + t)).collect();
        let series = hypergeometric_series_at(&[big_a + 1.0, a, 1.0], &[c + 1.0, 2.0], &zs)?;
        let am1 = a - 1.0;
        Ok(ts
            .iter()
            .zip(zs)
            .zip(series)
            .map(|((&t, z), series)| {
                if t == 0.0 {
                    return 0.0;
                }
                // ln z₀ = ln((α+T)/(α+T+t)), computed without cancellation for small t.
                let ln_z0 = -(t / (alpha + age)).ln_1p();
                // (1 − z₀^(a−1))/(a−1), with its limit −ln z₀ at a = 1.
                let ratio = if am1 == 0.0 {
                    -ln_z0
                } else {
                    -(am1 * ln_z0).exp_m1() / am1
                };
                let value = c * ratio - (am1 * ln_z0).exp() * big_a * z * series;
                // The difference is ≥ 0 analytically; rounding can leave −ε for tiny t.
                value.max(0.0)
            })
            .collect())
    }
}

/// BG/NBD data grouped by unique (x, t_x, T), with the logs the likelihood needs per evaluation
/// computed once per unique value.
struct BgNbdData {
    frequencies: Vec<f64>,
    ages: Vec<f64>,
    recencies: Vec<f64>,
    rows: Vec<BgNbdRow>,
    total_weight: f64,
}

struct BgNbdRow {
    frequency: usize,
    age: usize,
    recency: usize,
    weight: f64,
}

impl BgNbdData {
    fn new(customers: &[CustomerSummary], scale: f64) -> Self {
        let mut keys: Vec<(u32, f64, f64)> = customers
            .iter()
            .map(|c| (c.frequency, c.recency * scale, c.age * scale))
            .collect();
        keys.sort_by(|l, r| {
            l.0.cmp(&r.0)
                .then(l.1.total_cmp(&r.1))
                .then(l.2.total_cmp(&r.2))
        });
        let frequencies = unique_sorted(keys.iter().map(|k| f64::from(k.0)).collect());
        let recencies = unique_sorted(keys.iter().map(|k| k.1).collect());
        let ages = unique_sorted(keys.iter().map(|k| k.2).collect());
        let mut rows: Vec<BgNbdRow> = Vec::new();
        let mut previous: Option<(u32, f64, f64)> = None;
        for key in keys {
            if previous == Some(key) {
                if let Some(row) = rows.last_mut() {
                    row.weight += 1.0;
                }
                continue;
            }
            previous = Some(key);
            rows.push(BgNbdRow {
                frequency: index_of(&frequencies, f64::from(key.0)),
                recency: index_of(&recencies, key.1),
                age: index_of(&ages, key.2),
                weight: 1.0,
            });
        }
        Self {
            frequencies,
            ages,
            recencies,
            rows,
            total_weight: customers.len() as f64,
        }
    }

    /// Mean negative log-likelihood at θ = (ln r, ln α, ln a, ln b) and its gradient over θ.
    fn objective(&self, theta: &[f64; 4], grad: &mut [f64; 4]) -> f64 {
        if theta
            .iter()
            .any(|v| !v.is_finite() || v.abs() > MAX_LOG_PARAM)
        {
            return f64::INFINITY;
        }
        let [r, alpha, a, b] = theta.map(f64::exp);
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));

        // Per unique x: the terms of ℓ that depend on x only, and their derivatives.
        let per_x: Vec<PerFrequency> = self
            .frequencies
            .iter()
            .map(|&x| {
                let (dg_abx, has_repeat) = (digamma(a + b + x), x > 0.0);
                let b_x1 = b + x - 1.0;
                PerFrequency {
                    x,
                    constant: ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                        - lg_b
                        - ln_gamma(a + b + x),
                    a4_constant: if has_repeat { ln_a - b_x1.ln() } else { 0.0 },
                    d_r: digamma(r + x) - dg_r + ln_alpha,
                    d_a: dg_ab - dg_abx,
                    d_b: dg_ab + digamma(b + x) - dg_b - dg_abx,
                    d_b_a4: if has_repeat { -1.0 / b_x1 } else { 0.0 },
                }
            })
            .collect();
        let logs = |values: &[f64]| -> Vec<(f64, f64)> {
            values
                .iter()
                .map(|&v| ((alpha + v).ln(), 1.0 / (alpha + v)))
                .collect()
        };
        let (age_logs, recency_logs) = (logs(&self.ages), logs(&self.recencies));

        let (mut ll, mut g_r, mut g_alpha, mut g_a, mut g_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for row in &self.rows {
            let f = &per_x[row.frequency];
            let rx = r + f.x;
            let (ln_t, inv_t) = age_logs[row.age];
            let a3 = -rx * ln_t;
            let (lse, w4) = if f.x > 0.0 {
                let (ln_tx, _) = recency_logs[row.recency];
                let a4 = f.a4_constant - rx * ln_tx;
                let e = (-(a3 - a4).abs()).exp();
                let w4 = if a4 > a3 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                (a3.max(a4) + e.ln_1p(), w4)
            } else {
                (a3, 0.0)
            };
            let w3 = 1.0 - w4;
            let w = row.weight;
            ll += w * (f.constant + lse);
            let (ln_tx, inv_tx) = recency_logs[row.recency];
            g_r += w * (f.d_r - w3 * ln_t - w4 * ln_tx);
            g_alpha += w * (r / alpha - rx * (w3 * inv_t + w4 * inv_tx));
            g_a += w * (f.d_a + w4 / a);
            g_b += w * (f.d_b + w4 * f.d_b_a4);
        }
        let n = self.total_weight;
        *grad = [
            -r * g_r / n,
            -alpha * g_alpha / n,
            -a * g_a / n,
            -b * g_b / n,
        ];
        -ll / n
    }
}

struct PerFrequency {
    x: f64,
    constant: f64,
    a4_constant: f64,
    d_r: f64,
    d_a: f64,
    d_b: f64,
    d_b_a4: f64,
}

// ---------------------------------------------------------------------------------------------
// Gamma–Gamma
// ---------------------------------------------------------------------------------------------

/// Gamma–Gamma parameters: a purchase's value z ~ Gamma(shape p, rate ν) with ν ~ Gamma(shape q,
/// rate γ) across customers (`v` in `lifetimes`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// A Gamma–Gamma spend model with valid parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    params: GammaGammaParams,
}

/// The result of [`GammaGamma::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaFit {
    pub model: GammaGamma,
    /// Total log-likelihood of the repeat customers' mean values at the fitted parameters.
    pub log_likelihood: f64,
    pub iterations: usize,
    /// Customers with frequency > 0 that the fit used.
    pub customers: usize,
    /// Unique (x, m) patterns the likelihood was evaluated on.
    pub patterns: usize,
}

impl GammaGamma {
    /// A model from known parameters; each must be finite and > 0.
    pub fn new(params: GammaGammaParams) -> Result<Self> {
        positive_parameter("p", params.p)?;
        positive_parameter("q", params.q)?;
        positive_parameter("gamma", params.gamma)?;
        Ok(Self { params })
    }

    pub fn params(&self) -> GammaGammaParams {
        self.params
    }

    /// Maximum-likelihood fit with [`FitOptions::default`].
    pub fn fit(customers: &[CustomerSummary]) -> Result<GammaGammaFit> {
        Self::fit_with(customers, &FitOptions::default())
    }

    /// Maximum-likelihood fit of (p, q, γ) on the customers with frequency > 0, each with the mean
    /// value m of its x repeat purchases (which must be > 0). Values are scaled by 1/mean(m) (γ is
    /// scaled back), the data is grouped by unique (x, m), and BFGS minimises the mean negative
    /// log-likelihood over (ln p, ln q, ln γ) from (0, 0, 0).
    pub fn fit_with(customers: &[CustomerSummary], options: &FitOptions) -> Result<GammaGammaFit> {
        const MODEL: &str = "Gamma-Gamma";
        options.validate()?;
        let mut repeat = Vec::new();
        for (index, c) in customers.iter().enumerate() {
            if c.frequency == 0 {
                continue;
            }
            validate_spend(index, c.frequency, c.monetary_value)?;
            repeat.push((c.frequency, c.monetary_value));
        }
        if repeat.len() < GAMMA_GAMMA_MIN_CUSTOMERS {
            return Err(LifetimeError::TooFewCustomers {
                model: MODEL,
                got: repeat.len(),
                need: GAMMA_GAMMA_MIN_CUSTOMERS,
            });
        }
        let mean = repeat.iter().map(|(_, m)| m).sum::<f64>() / repeat.len() as f64;
        let scale = 1.0 / mean;
        let data = GammaGammaData::new(&repeat, scale);
        let total_weight = repeat.len() as f64;
        // ℓ(γ; m) = ℓ(sγ; s·m) + ln s: the Jacobian of the value scaling.
        let log_likelihood = |mean_nll: f64| -mean_nll * total_weight + total_weight * scale.ln();
        let unscale = |theta: &[f64; 3]| GammaGammaParams {
            p: theta[0].exp(),
            q: theta[1].exp(),
            gamma: theta[2].exp() / scale,
        };
        match bfgs(|theta, grad| data.objective(theta, grad), [0.0; 3], options) {
            Ok(optimum) => Ok(GammaGammaFit {
                model: Self::new(unscale(&optimum.x))?,
                log_likelihood: log_likelihood(optimum.value),
                iterations: optimum.iterations,
                customers: repeat.len(),
                patterns: data.rows.len(),
            }),
            Err(stalled) => Err(LifetimeError::DidNotConverge {
                model: MODEL,
                iterations: stalled.iterations,
                log_likelihood: log_likelihood(stalled.value),
            }),
        }
    }

    /// Log-likelihood of one repeat customer's mean value m over x > 0 purchases (note 025, eq. 1a):
    ///
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m + px ln x − (px+q) ln(xm+γ)
    pub fn customer_log_likelihood(&self, frequency: u32, monetary_value: f64) -> Result<f64> {
        validate_spend(0, frequency, monetary_value)?;
        if frequency == 0 {
            return Err(LifetimeError::InvalidArgument {
                name: "frequency",
                value: 0.0,
                reason: "the spend likelihood needs at least one repeat purchase",
            });
        }
        let GammaGammaParams { p, q, gamma } = self.params;
        let (x, m) = (f64::from(frequency), monetary_value);
        let px = p * x;
        Ok(ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * gamma.ln()
            + (px - 1.0) * m.ln()
            + px * x.ln()
            - (px + q) * (x * m + gamma).ln())
    }

    /// Total log-likelihood of the customers with frequency > 0.
    pub fn log_likelihood(&self, customers: &[CustomerSummary]) -> Result<f64> {
        let mut total = 0.0;
        for (index, c) in customers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.frequency > 0)
        {
            total += self
                .customer_log_likelihood(c.frequency, c.monetary_value)
                .map_err(|e| with_index(e, index))?;
        }
        Ok(total)
    }

    /// E[Z | x, m]: expected value of a customer's future purchases given x repeat purchases of
    /// mean value m (note 025, eq. 5): the weighted mean of the population mean pγ/(q−1) and m,
    /// = p(γ + x·m)/(px + q − 1). With x = 0 it is the population mean, defined only for q > 1.
    pub fn conditional_expected_average_profit(
        &self,
        frequency: u32,
        monetary_value: f64,
    ) -> Result<f64> {
        if !monetary_value.is_finite() || monetary_value < 0.0 {
            return Err(LifetimeError::InvalidArgument {
                name: "monetary_value",
                value: monetary_value,
                reason: "must be finite and >= 0",
            });
        }
        let GammaGammaParams { p, q, gamma } = self.params;
        let x = f64::from(frequency);
        let denominator = p * x + q - 1.0;
        if denominator <= 0.0 {
            return Err(LifetimeError::InvalidParameter {
                name: "q",
                value: q,
                reason: "the expected spend is infinite unless p·x + q > 1 (q > 1 for new customers)",
            });
        }
        Ok(p * (gamma + x * monetary_value) / denominator)
    }
}

/// Gamma–Gamma data grouped by unique (x, m), x ascending.
struct GammaGammaData {
    frequencies: Vec<f64>,
    rows: Vec<GammaGammaRow>,
    total_weight: f64,
}

struct GammaGammaRow {
    frequency: usize,
    value: f64,
    ln_value: f64,
    weight: f64,
}

impl GammaGammaData {
    fn new(repeat: &[(u32, f64)], scale: f64) -> Self {
        let mut keys: Vec<(u32, f64)> = repeat.iter().map(|&(x, m)| (x, m * scale)).collect();
        keys.sort_by(|l, r| l.0.cmp(&r.0).then(l.1.total_cmp(&r.1)));
        let frequencies = unique_sorted(keys.iter().map(|k| f64::from(k.0)).collect());
        let mut rows: Vec<GammaGammaRow> = Vec::new();
        let mut previous: Option<(u32, f64)> = None;
        for key in keys {
            if previous == Some(key) {
                if let Some(row) = rows.last_mut() {
                    row.weight += 1.0;
                }
                continue;
            }
            previous = Some(key);
            rows.push(GammaGammaRow {
                frequency: index_of(&frequencies, f64::from(key.0)),
                value: key.1,
                ln_value: key.1.ln(),
                weight: 1.0,
            });
        }
        Self {
            frequencies,
            rows,
            total_weight: repeat.len() as f64,
        }
    }

    /// Mean negative log-likelihood at θ = (ln p, ln q, ln γ) and its gradient over θ.
    fn objective(&self, theta: &[f64; 3], grad: &mut [f64; 3]) -> f64 {
        if theta
            .iter()
            .any(|v| !v.is_finite() || v.abs() > MAX_LOG_PARAM)
        {
            return f64::INFINITY;
        }
        let [p, q, gamma] = theta.map(f64::exp);
        let (lg_q, dg_q, ln_gamma_param) = (ln_gamma(q), digamma(q), gamma.ln());
        // Per unique x: (x, px, ln Γ(px+q) − ln Γ(px) − ln Γ(q) + px ln x, ψ(px+q), ψ(px), ln x).
        let per_x: Vec<[f64; 6]> = self
            .frequencies
            .iter()
            .map(|&x| {
                let px = p * x;
                let ln_x = x.ln();
                [
                    x,
                    px,
                    ln_gamma(px + q) - ln_gamma(px) - lg_q + px * ln_x,
                    digamma(px + q),
                    digamma(px),
                    ln_x,
                ]
            })
            .collect();
        let (mut ll, mut g_p, mut g_q, mut g_gamma) = (0.0, 0.0, 0.0, 0.0);
        for row in &self.rows {
            let [x, px, constant, dg_pxq, dg_px, ln_x] = per_x[row.frequency];
            let total = x * row.value + gamma;
            let ln_total = total.ln();
            let w = row.weight;
            ll += w
                * (constant + q * ln_gamma_param + (px - 1.0) * row.ln_value - (px + q) * ln_total);
            g_p += w * x * (dg_pxq - dg_px + row.ln_value + ln_x - ln_total);
            g_q += w * (dg_pxq - dg_q + ln_gamma_param - ln_total);
            g_gamma += w * (q / gamma - (px + q) / total);
        }
        let n = self.total_weight;
        *grad = [-p * g_p / n, -q * g_q / n, -gamma * g_gamma / n];
        -ll / n
    }
}

// ---------------------------------------------------------------------------------------------
// Customer lifetime value
// ---------------------------------------------------------------------------------------------

/// The horizon and discounting of [`customer_lifetime_value`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvHorizon {
    /// Months summed (`time` in `lifetimes`).
    pub months: u32,
    /// Discount rate per month (0.01 = 1 %).
    pub monthly_discount_rate: f64,
    /// Model time units in a month: [`WEEKS_PER_MONTH`] when ages are in weeks,
    /// [`DAYS_PER_MONTH`] when in days.
    pub time_units_per_month: f64,
}

/// Discounted expected value of a customer's purchases over the next `horizon.months` months:
///
/// CLV = Σ_{i=1..months} E[Z | x, m] · (E[Y(i·u) | x, t_x, T] − E[Y((i−1)·u) | x, t_x, T]) / (1+d)^i
///
/// with u the time units per month and d the monthly discount rate, as `lifetimes`'
/// `GammaGammaFitter.customer_lifetime_value` with a `BetaGeoFitter` computes it.
pub fn customer_lifetime_value(
    purchases: &BgNbd,
    spend: &GammaGamma,
    customer: &CustomerSummary,
    horizon: &ClvHorizon,
) -> Result<f64> {
    if !(horizon.monthly_discount_rate.is_finite() && horizon.monthly_discount_rate > -1.0) {
        return Err(LifetimeError::InvalidArgument {
            name: "monthly_discount_rate",
            value: horizon.monthly_discount_rate,
            reason: "must be finite and > -1",
        });
    }
    if !(horizon.time_units_per_month.is_finite() && horizon.time_units_per_month > 0.0) {
        return Err(LifetimeError::InvalidArgument {
            name: "time_units_per_month",
            value: horizon.time_units_per_month,
            reason: "must be finite and > 0",
        });
    }
    let CustomerSummary {
        frequency,
        recency,
        age,
        monetary_value,
    } = *customer;
    validate_history(0, frequency, recency, age)?;
    let value = spend.conditional_expected_average_profit(frequency, monetary_value)?;
    let alive = purchases.p_alive_unchecked(frequency, recency, age);
    let horizons: Vec<f64> = (1..=horizon.months)
        .map(|month| f64::from(month) * horizon.time_units_per_month)
        .collect();
    let mut previous = 0.0;
    let mut clv = 0.0;
    for (month, e) in
        (1..).zip(purchases.expected_purchases_if_alive_at(&horizons, frequency, age)?)
    {
        let cumulative = alive * e;
        clv += value * (cumulative - previous)
            / (1.0 + horizon.monthly_discount_rate).powf(f64::from(month));
        previous = cumulative;
    }
    Ok(clv)
}

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

/// Gauss's hypergeometric function ₂F₁(a, b; c; z) for |z| < 1, summed by its series until the
/// neglected tail is below 1e-16 of the sum.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64> {
    for (name, value) in [("a", a), ("b", b), ("c", c), ("z", z)] {
        if !value.is_finite() {
            return Err(LifetimeError::InvalidArgument {
                name,
                value,
                reason: "must be finite",
            });
        }
    }
    hypergeometric_series(&[a, b], &[c], z)
}

/// The series' conditions: |z| < 1, and no lower parameter a non-positive integer.
fn check_series(lower: &[f64], z: f64) -> Result<()> {
    if z.is_nan() || z.abs() >= 1.0 {
        return Err(LifetimeError::InvalidArgument {
            name: "z",
            value: z,
            reason: "the series needs |z| < 1",
        });
    }
    for &l in lower {
        if l <= 0.0 && l.fract() == 0.0 {
            return Err(LifetimeError::InvalidArgument {
                name: "lower parameter",
                value: l,
                reason: "must not be a non-positive integer",
            });
        }
    }
    Ok(())
}

/// The k from which a series' term ratio is monotone: past the largest parameter.
fn series_regime(upper: &[f64], lower: &[f64]) -> f64 {
    upper
        .iter()
        .chain(lower)
        .fold(0.0_f64, |m, v| m.max(v.abs()))
        .ceil()
        + 1.0
}

/// The generalised hypergeometric series Σₖ Πᵢ(uᵢ)ₖ / Πⱼ(lⱼ)ₖ · zᵏ/k! for |z| < 1 (with one more
/// upper than lower parameter, as ₂F₁ and ₃F₂ have). Stops once past the largest parameter (so the
/// term ratio is in its monotone regime) when the geometric bound on the tail is below
/// [`SERIES_EPSILON`] of the sum, or when the series terminates.
fn hypergeometric_series(upper: &[f64], lower: &[f64], z: f64) -> Result<f64> {
    check_series(lower, z)?;
    let regime = series_regime(upper, lower);
    let (mut term, mut sum) = (1.0_f64, 1.0_f64);
    for k in 0..MAX_SERIES_TERMS {
        let kf = k as f64;
        let mut ratio = z / (kf + 1.0);
        for u in upper {
            ratio *= u + kf;
        }
        for l in lower {
            ratio /= l + kf;
        }
        term *= ratio;
        sum += term;
        if term == 0.0 {
            return Ok(sum);
        }
        if !sum.is_finite() {
            break;
        }
        if kf >= regime {
            let bound = ratio.abs().max(z.abs());
            if bound < 1.0 && term.abs() * bound / (1.0 - bound) <= SERIES_EPSILON * sum.abs() {
                return Ok(sum);
            }
        }
    }
    Err(LifetimeError::SeriesDidNotConverge {
        terms: MAX_SERIES_TERMS,
        z,
    })
}

/// [`hypergeometric_series`] at several z at once. The term ratio is z times a factor that
/// depends only on the parameters and k, so that factor (its divisions) is computed once per k
/// for every z; each z stops by the same rule as alone.
fn hypergeometric_series_at(upper: &[f64], lower: &[f64], zs: &[f64]) -> Result<Vec<f64>> {
    if let [z] = zs {
        return Ok(vec![hypergeometric_series(upper, lower, *z)?]);
    }
    for &z in zs {
        check_series(lower, z)?;
    }
    let regime = series_regime(upper, lower);
    let n = zs.len();
    let mut terms = vec![1.0_f64; n];
    let mut sums = vec![1.0_f64; n];
    let mut done = vec![false; n];
    // Every z before `lo` is done (a CLV's z grow with the month, and smaller ones finish first).
    let mut lo = 0;
    for k in 0..MAX_SERIES_TERMS {
        while lo < n && done[lo] {
            lo += 1;
        }
        if lo == n {
            return Ok(sums);
        }
        let kf = k as f64;
        let mut factor = 1.0 / (kf + 1.0);
        for u in upper {
            factor *= u + kf;
        }
        for l in lower {
            factor /= l + kf;
        }
        for i in lo..n {
            if done[i] {
                continue;
            }
            let z = zs[i];
            let ratio = factor * z;
            let term = terms[i] * ratio;
            let sum = sums[i] + term;
            terms[i] = term;
            sums[i] = sum;
            if term == 0.0 {
                done[i] = true;
            } else if !sum.is_finite() {
                return Err(LifetimeError::SeriesDidNotConverge { terms: k + 1, z });
            } else if kf >= regime {
                let bound = ratio.abs().max(z.abs());
                done[i] =
                    bound < 1.0 && term.abs() * bound / (1.0 - bound) <= SERIES_EPSILON * sum.abs();
            }
        }
    }
    let z = zs[(lo..n).find(|&i| !done[i]).unwrap_or(lo)];
    Err(LifetimeError::SeriesDidNotConverge {
        terms: MAX_SERIES_TERMS,
        z,
    })
}

/// ln(eᵃ + eᵇ) without overflow.
fn log_add_exp(a: f64, b: f64) -> f64 {
    a.max(b) + (-(a - b).abs()).exp().ln_1p()
}

/// 1/(1 + e^(−v)) without overflow.
fn logistic(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

// ---------------------------------------------------------------------------------------------
// Minimiser
// ---------------------------------------------------------------------------------------------

struct Optimum<const N: usize> {
    x: [f64; N],
    value: f64,
    iterations: usize,
}

struct Stalled {
    value: f64,
    iterations: usize,
}

/// Armijo constant of the line search.
const ARMIJO: f64 = 1e-4;
/// Largest step (∞-norm, in log-parameters) one iteration may take.
const MAX_STEP: f64 = 5.0;
const MAX_BACKTRACKS: usize = 60;
/// Slack for rounding in the objective when accepting a step.
const ROUNDING_SLACK: f64 = 4.0 * f64::EPSILON;
/// Factor on the gradient tolerance accepted once no step lowers the objective beyond rounding
/// (the objective's own rounding noise can keep the gradient above the tolerance).
const STALL_TOLERANCE_FACTOR: f64 = 1e3;

/// BFGS with a backtracking (quadratic-interpolation, Armijo) line search on the inverse Hessian;
/// `objective` returns f(x) and writes ∇f(x), and may return +∞ outside its domain.
fn bfgs<const N: usize>(
    mut objective: impl FnMut(&[f64; N], &mut [f64; N]) -> f64,
    start: [f64; N],
    options: &FitOptions,
) -> std::result::Result<Optimum<N>, Stalled> {
    let mut x = start;
    let mut grad = [0.0; N];
    let mut value = objective(&x, &mut grad);
    if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
        return Err(Stalled {
            value,
            iterations: 0,
        });
    }
    let mut inverse_hessian = identity::<N>();
    let mut is_identity = true;
    for iteration in 0..options.max_iterations {
        let gradient_norm = inf_norm(&grad);
        if gradient_norm <= options.gradient_tolerance {
            return Ok(Optimum {
                x,
                value,
                iterations: iteration,
            });
        }
        let mut direction = [0.0; N];
        for (i, d) in direction.iter_mut().enumerate() {
            *d = -(0..N).map(|j| inverse_hessian[i][j] * grad[j]).sum::<f64>();
        }
        if dot(&grad, &direction) >= 0.0 {
            inverse_hessian = identity();
            is_identity = true;
            direction = grad.map(|g| -g);
        }
        let length = inf_norm(&direction);
        if length > MAX_STEP {
            direction = direction.map(|d| d * MAX_STEP / length);
        }
        let slope = dot(&grad, &direction);

        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_BACKTRACKS {
            let mut trial = x;
            for (t, d) in trial.iter_mut().zip(&direction) {
                *t += step * d;
            }
            let mut trial_grad = [0.0; N];
            let trial_value = objective(&trial, &mut trial_grad);
            let finite = trial_value.is_finite() && trial_grad.iter().all(|g| g.is_finite());
            if trial == x {
                // The step no longer moves x: the line search has failed.
                break;
            }
            if finite && trial_value <= value + ARMIJO * step * slope + ROUNDING_SLACK * value.abs()
            {
                accepted = Some((trial, trial_value, trial_grad));
                break;
            }
            let halved = 0.5 * step;
            step = if finite {
                let curvature = 2.0 * (trial_value - value - slope * step);
                if curvature > 0.0 {
                    (-slope * step * step / curvature).clamp(0.1 * step, halved)
                } else {
                    halved
                }
            } else {
                halved
            };
        }
        let loosely_converged =
            gradient_norm <= STALL_TOLERANCE_FACTOR * options.gradient_tolerance;
        let Some((next, next_value, next_grad)) = accepted else {
            if loosely_converged {
                return Ok(Optimum {
                    x,
                    value,
                    iterations: iteration,
                });
            }
            if is_identity {
                return Err(Stalled {
                    value,
                    iterations: iteration,
                });
            }
            inverse_hessian = identity();
            is_identity = true;
            continue;
        };

        if loosely_converged && value - next_value <= ROUNDING_SLACK * value.abs() {
            // The objective no longer decreases beyond rounding: its noise floor is reached.
            return Ok(Optimum {
                x: next,
                value: next_value,
                iterations: iteration + 1,
            });
        }
        let mut s = [0.0; N];
        let mut y = [0.0; N];
        for i in 0..N {
            s[i] = next[i] - x[i];
            y[i] = next_grad[i] - grad[i];
        }
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if is_identity {
                // Nocedal & Wright (6.20): scale the first approximation to the curvature seen.
                let scale = sy / dot(&y, &y);
                inverse_hessian = identity().map(|row| row.map(|v| v * scale));
            }
            let rho = 1.0 / sy;
            let mut hy = [0.0; N];
            for (i, h) in hy.iter_mut().enumerate() {
                *h = (0..N).map(|j| inverse_hessian[i][j] * y[j]).sum();
            }
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    inverse_hessian[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
            is_identity = false;
        }
        x = next;
        value = next_value;
        grad = next_grad;
    }
    if inf_norm(&grad) <= options.gradient_tolerance {
        return Ok(Optimum {
            x,
            value,
            iterations: options.max_iterations,
        });
    }
    Err(Stalled {
        value,
        iterations: options.max_iterations,
    })
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut m = [[0.0; N]; N];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm<const N: usize>(v: &[f64; N]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

// ---------------------------------------------------------------------------------------------
// Validation and helpers
// ---------------------------------------------------------------------------------------------

fn positive_parameter(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(LifetimeError::InvalidParameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}

/// The checks `lifetimes` makes on (x, t_x, T), plus finiteness.
fn validate_history(index: usize, frequency: u32, recency: f64, age: f64) -> Result<()> {
    if !recency.is_finite() {
        return Err(LifetimeError::NonFinite {
            index,
            field: "recency",
        });
    }
    if !age.is_finite() {
        return Err(LifetimeError::NonFinite {
            index,
            field: "age",
        });
    }
    let invalid = |field, value, reason| LifetimeError::InvalidData {
        index,
        field,
        value,
        reason,
    };
    if recency < 0.0 {
        return Err(invalid("recency", recency, "must be >= 0"));
    }
    if recency > age {
        return Err(invalid("recency", recency, "must not exceed age"));
    }
    if frequency == 0 && recency != 0.0 {
        return Err(invalid("recency", recency, "must be 0 when frequency is 0"));
    }
    Ok(())
}

fn validate_spend(index: usize, frequency: u32, monetary_value: f64) -> Result<()> {
    if !monetary_value.is_finite() {
        return Err(LifetimeError::NonFinite {
            index,
            field: "monetary_value",
        });
    }
    if frequency > 0 && monetary_value <= 0.0 {
        return Err(LifetimeError::InvalidData {
            index,
            field: "monetary_value",
            value: monetary_value,
            reason: "must be > 0 for a customer with repeat purchases",
        });
    }
    Ok(())
}

fn validate_horizon(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(LifetimeError::InvalidArgument {
            name: "t",
            value: t,
            reason: "must be finite and >= 0",
        })
    }
}

/// Puts the customer's position into a per-customer error raised for index 0.
fn with_index(error: LifetimeError, index: usize) -> LifetimeError {
    match error {
        LifetimeError::NonFinite { field, .. } => LifetimeError::NonFinite { index, field },
        LifetimeError::InvalidData {
            field,
            value,
            reason,
            ..
        } => LifetimeError::InvalidData {
            index,
            field,
            value,
            reason,
        },
        other => other,
    }
}

fn unique_sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
}

fn index_of(sorted: &[f64], value: f64) -> usize {
    sorted.partition_point(|v| v.total_cmp(&value).is_lt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    #[test]
    fn the_series_at_many_z_equals_it_at_each() {
        // The ₃F₂ of a CLV (upper A+1, a, 1; lower c+1, 2) and a terminating one.
        let cases: [(&[f64], &[f64]); 3] = [
            (&[2.1, 0.79, 1.0], &[4.2, 2.0]),
            (&[-3.0, 1.5], &[2.5]),
            (&[0.7, 2.5], &[2.5]),
        ];
        let zs = [0.0, 0.05, 0.3, 0.6, 0.9, 0.99, -0.4];
        for (upper, lower) in cases {
            let many = hypergeometric_series_at(upper, lower, &zs).unwrap();
            for (z, m) in zs.iter().zip(&many) {
                let one = hypergeometric_series(upper, lower, *z).unwrap();
                assert!(close(*m, one, 1e-13), "z = {z}: {m} against {one}");
            }
        }
        assert!(matches!(
            hypergeometric_series_at(&[1.0, 1.0], &[2.0], &[0.5, 1.0]),
            Err(LifetimeError::InvalidArgument { name: "z", .. })
        ));
        assert!(matches!(
            hypergeometric_series_at(&[1.0, 1.0], &[-2.0], &[0.5, 0.2]),
            Err(LifetimeError::InvalidArgument {
                name: "lower parameter",
                ..
            })
        ));
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        for z in [-0.9_f64, -0.3, 0.0, 0.2, 0.5, 0.9, 0.99] {
            // ₂F₁(1, 1; 2; z) = −ln(1−z)/z
            let expected = if z == 0.0 { 1.0 } else { -(-z).ln_1p() / z };
            assert!(
                close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, 1e-13),
                "z = {z}"
            );
            // ₂F₁(a, b; b; z) = (1−z)^(−a)
            assert!(close(
                hyp2f1(0.7, 2.5, 2.5, z).unwrap(),
                (1.0 - z).powf(-0.7),
                1e-13
            ));
            // ₂F₁(−3, b; c; z) is a cubic: terminates.
            let (b, c) = (1.5, 2.5);
            let cubic = 1.0 - 3.0 * b / c * z + 3.0 * b * (b + 1.0) / (c * (c + 1.0)) * z * z
                - b * (b + 1.0) * (b + 2.0) / (c * (c + 1.0) * (c + 2.0)) * z * z * z;
            assert!(close(hyp2f1(-3.0, b, c, z).unwrap(), cubic, 1e-13));
        }
        assert!(matches!(
            hyp2f1(1.0, 1.0, 2.0, 1.0),
            Err(LifetimeError::InvalidArgument { .. })
        ));
        assert!(matches!(
            hyp2f1(1.0, 1.0, -2.0, 0.5),
            Err(LifetimeError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn expected_purchases_equal_paper_eq_10_by_direct_hyp2f1() {
        let model = BgNbd::new(BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        })
        .unwrap();
        let BgNbdParams { r, alpha, a, b } = model.params();
        for (t, x, t_x, big_t) in [
            (39.0, 2u32, 30.43, 38.86),
            (10.0, 0, 0.0, 20.0),
            (52.0, 7, 35.0, 38.0),
        ] {
            let xf = f64::from(x);
            let z = t / (alpha + big_t + t);
            let hyp = hyp2f1(r + xf, b + xf, a + b + xf - 1.0, z).unwrap();
            let numerator = (a + b + xf - 1.0) / (a - 1.0)
                * (1.0 - ((alpha + big_t) / (alpha + big_t + t)).powf(r + xf) * hyp);
            let denominator = if x > 0 {
                1.0 + a / (b + xf - 1.0) * ((alpha + big_t) / (alpha + t_x)).powf(r + xf)
            } else {
                1.0
            };
            let ours = model.expected_purchases(t, x, t_x, big_t).unwrap();
            assert!(
                close(ours, numerator / denominator, 1e-10),
                "{ours} vs {}",
                numerator / denominator
            );
        }
    }

    #[test]
    fn expected_purchases_are_continuous_through_a_equal_1() {
        let at = |a: f64| {
            BgNbd::new(BgNbdParams {
                r: 0.5,
                alpha: 3.0,
                a,
                b: 2.0,
            })
            .unwrap()
            .expected_purchases(20.0, 3, 10.0, 15.0)
            .unwrap()
        };
        let (below, exact, above) = (at(1.0 - 1e-9), at(1.0), at(1.0 + 1e-9));
        assert!(
            close(exact, below, 1e-7) && close(exact, above, 1e-7),
            "{below} {exact} {above}"
        );
    }

    #[test]
    fn bfgs_finds_the_minimum_of_a_quadratic_bowl() {
        let options = FitOptions::default();
        let optimum = bfgs(
            |x: &[f64; 2], g: &mut [f64; 2]| {
                g[0] = 2.0 * (x[0] - 1.0) + x[1];
                g[1] = 8.0 * (x[1] + 2.0) + x[0];
                (x[0] - 1.0).powi(2) + 4.0 * (x[1] + 2.0).powi(2) + x[0] * x[1]
            },
            [0.0, 0.0],
            &options,
        )
        .unwrap_or_else(|_| panic!("did not converge"));
        // Stationary point of the quadratic: 2(x−1) + y = 0, 8(y+2) + x = 0.
        let y = -17.0 / 7.5;
        let x = 1.0 - y / 2.0;
        assert!((optimum.x[0] - x).abs() < 1e-8 && (optimum.x[1] - y).abs() < 1e-8);
    }

    /// Central finite differences of `objective` at `theta`, compared with its analytic gradient.
    fn check_gradient<const N: usize>(
        objective: impl Fn(&[f64; N], &mut [f64; N]) -> f64,
        theta: [f64; N],
    ) {
        let mut analytic = [0.0; N];
        objective(&theta, &mut analytic);
        let mut scratch = [0.0; N];
        for i in 0..N {
            let h = 1e-6;
            let (mut up, mut down) = (theta, theta);
            up[i] += h;
            down[i] -= h;
            let numeric =
                (objective(&up, &mut scratch) - objective(&down, &mut scratch)) / (2.0 * h);
            assert!(
                (numeric - analytic[i]).abs() <= 1e-6 * (1.0 + numeric.abs()),
                "component {i}: analytic {} vs numeric {numeric}",
                analytic[i]
            );
        }
    }

    fn sample_customers() -> Vec<CustomerSummary> {
        (0..40u32)
            .map(|i| {
                let frequency = i % 7;
                let age = 5.0 + f64::from(i % 11) * 3.0;
                let recency = if frequency == 0 {
                    0.0
                } else {
                    age * f64::from(i % 5 + 1) / 6.0
                };
                let monetary_value = if frequency == 0 {
                    0.0
                } else {
                    5.0 + f64::from(i * 7 % 13)
                };
                CustomerSummary {
                    frequency,
                    recency,
                    age,
                    monetary_value,
                }
            })
            .collect()
    }

    #[test]
    fn analytic_gradients_match_finite_differences() {
        let customers = sample_customers();
        let bg = BgNbdData::new(&customers, 1.0 / 35.0);
        for theta in [[0.0; 4], [-1.4, 1.5, -0.2, 0.9], [1.0, -2.0, 1.5, -1.0]] {
            check_gradient(|t, g| bg.objective(t, g), theta);
        }
        let repeat: Vec<(u32, f64)> = customers
            .iter()
            .filter(|c| c.frequency > 0)
            .map(|c| (c.frequency, c.monetary_value))
            .collect();
        let gg = GammaGammaData::new(&repeat, 0.1);
        for theta in [[0.0; 3], [1.8, 1.3, 0.5], [-1.0, 2.0, -0.5]] {
            check_gradient(|t, g| gg.objective(t, g), theta);
        }
    }

    #[test]
    fn summary_from_purchases_merges_same_time_and_skips_the_first() {
        let purchases = [
            Purchase {
                time: 3.0,
                amount: 10.0,
            },
            Purchase {
                time: 0.0,
                amount: 5.0,
            },
            Purchase {
                time: 3.0,
                amount: 2.0,
            },
            Purchase {
                time: 7.0,
                amount: 6.0,
            },
            Purchase {
                time: 12.0,
                amount: 100.0,
            },
        ];
        let summary = CustomerSummary::from_purchases(&purchases, 10.0)
            .unwrap()
            .unwrap();
        assert_eq!(
            summary,
            CustomerSummary {
                frequency: 2,
                recency: 7.0,
                age: 10.0,
                monetary_value: 9.0
            }
        );
        assert_eq!(
            CustomerSummary::from_purchases(&purchases[4..], 10.0).unwrap(),
            None
        );
    }
}
