//! A streaming quantile sketch for shop-level RFM scores: values fall into fixed buckets
//! (logarithmic, ±1 % relative error, or linear of a fixed width) counted in a Fenwick tree, so
//! an insert, a removal (a customer's value changes) and a rank query are each O(log buckets).
//! The counts do not depend on the order values arrive in, so neither do the scores.

/// How values map to buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Buckets {
    /// `ceil(ln(v) / ln(gamma))`, for positive quantities spanning orders of magnitude
    /// (amounts, counts); values ≤ `min` share the first bucket.
    Log { gamma: f64, min: f64, max: f64 },
    /// `floor((v - origin) / width)`, for times.
    Linear { origin: f64, width: f64, max: f64 },
}

impl Buckets {
    fn len(&self) -> usize {
        match *self {
            Buckets::Log { gamma, min, max } => ((max / min).ln() / gamma.ln()).ceil() as usize + 2,
            Buckets::Linear { origin, width, max } => ((max - origin) / width).ceil() as usize + 2,
        }
    }

    fn index(&self, v: f64, len: usize) -> usize {
        let i = match *self {
            Buckets::Log { gamma, min, .. } => {
                if v.is_nan() || v <= min {
                    0
                } else {
                    ((v / min).ln() / gamma.ln()).ceil() as i64 + 1
                }
            }
            Buckets::Linear { origin, width, .. } => {
                if v.is_nan() || v < origin {
                    0
                } else {
                    ((v - origin) / width).floor() as i64 + 1
                }
            }
        };
        i.clamp(0, len as i64 - 1) as usize
    }
}

#[derive(Debug, Clone)]
pub struct Sketch {
    buckets: Buckets,
    tree: Vec<i64>,
    total: i64,
}

impl Sketch {
    pub fn new(buckets: Buckets) -> Sketch {
        let len = buckets.len();
        Sketch {
            buckets,
            tree: vec![0; len + 1],
            total: 0,
        }
    }

    fn add(&mut self, i: usize, d: i64) {
        let mut i = i + 1;
        while i < self.tree.len() {
            self.tree[i] += d;
            i += i & i.wrapping_neg();
        }
        self.total += d;
    }

    /// Count of values in buckets `< i`.
    fn prefix(&self, i: usize) -> i64 {
        let mut i = i;
        let mut s = 0;
        while i > 0 {
            s += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        s
    }

    pub fn insert(&mut self, v: f64) {
        let i = self.buckets.index(v, self.tree.len() - 1);
        self.add(i, 1);
    }

    /// Remove a value inserted before (a customer's old value, when it changes).
    pub fn remove(&mut self, v: f64) {
        let i = self.buckets.index(v, self.tree.len() - 1);
        self.add(i, -1);
    }

    pub fn len(&self) -> i64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Mid-rank of `v` among the values, in [0, 1]: the share below it plus half its bucket.
    pub fn rank(&self, v: f64) -> f64 {
        if self.total <= 0 {
            return 0.5;
        }
        let i = self.buckets.index(v, self.tree.len() - 1);
        let below = self.prefix(i);
        let same = self.prefix(i + 1) - below;
        (below as f64 + same as f64 / 2.0) / self.total as f64
    }

    /// Quintile score 1–5 of `v` (5 = highest values).
    pub fn score(&self, v: f64) -> i32 {
        ((self.rank(v) * 5.0).floor() as i32 + 1).clamp(1, 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn money() -> Sketch {
        Sketch::new(Buckets::Log {
            gamma: 1.02,
            min: 1.0,
            max: 1e12,
        })
    }

    #[test]
    fn ranks_follow_the_data() {
        let mut s = money();
        for v in 1..=1000 {
            s.insert(v as f64);
        }
        assert!((s.rank(500.0) - 0.5).abs() < 0.02, "{}", s.rank(500.0));
        assert_eq!(s.score(1.0), 1);
        assert_eq!(s.score(1000.0), 5);
        assert_eq!(s.score(450.0), 3);
        s.remove(1000.0);
        assert_eq!(s.len(), 999);
    }

    proptest! {
        #[test]
        fn scores_stay_in_range_and_order_does_not_matter(
            mut values in proptest::collection::vec(0.0f64..1e9, 1..300),
            probe in 0.0f64..1e9,
        ) {
            let mut a = money();
            for v in &values { a.insert(*v); }
            values.reverse();
            let mut b = money();
            for v in &values { b.insert(*v); }
            let score = a.score(probe);
            prop_assert!((1..=5).contains(&score));
            prop_assert_eq!(score, b.score(probe));
            prop_assert_eq!(a.rank(probe), b.rank(probe));
        }

        #[test]
        fn a_larger_value_never_scores_lower(values in proptest::collection::vec(1.0f64..1e6, 1..200), x in 1.0f64..1e6, y in 1.0f64..1e6) {
            let mut s = money();
            for v in &values { s.insert(*v); }
            let (lo, hi) = if x < y { (x, y) } else { (y, x) };
            prop_assert!(s.score(lo) <= s.score(hi));
        }
    }
}
