//! Rank correlations: Knight's Kendall against the O(n²) definition, and known values from
//! scipy.

use intrain::stats::{
    bootstrap_ci, finite_pairs, kendall_tau_b, kendall_tau_b_naive, mean_std, pearson, ranks,
    spearman_rho,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Random vectors with heavy ties: values from small integer sets (sometimes shifted, scaled
/// or negative), n from 0 to 199.
#[test]
fn knight_matches_naive_on_random_tied_vectors() {
    let mut rng = ChaCha8Rng::seed_from_u64(20240611);
    let mut defined = 0;
    for case in 0..600 {
        let n = rng.random_range(0..200usize);
        let kx = rng.random_range(1..8i64);
        let ky = rng.random_range(1..8i64);
        let scale = [1.0, 0.5, -3.0, 1e-3][case % 4];
        let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..kx) as f64 * scale).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.random_range(-ky..ky) as f64 - 0.25).collect();
        let fast = kendall_tau_b(&x, &y);
        let slow = kendall_tau_b_naive(&x, &y);
        match (fast, slow) {
            (Some(a), Some(b)) => {
                assert!(close(a, b, 1e-12), "case {case}, n={n}: knight {a} vs naive {b}");
                defined += 1;
            }
            (None, None) => {}
            _ => panic!("case {case}, n={n}: knight {fast:?} vs naive {slow:?}"),
        }
        // Correlated variant: y partly follows x, so tau is far from 0.
        let y2: Vec<f64> =
            x.iter().map(|v| (v * 2.0).round() + rng.random_range(0..3) as f64).collect();
        let (a, b) = (kendall_tau_b(&x, &y2), kendall_tau_b_naive(&x, &y2));
        match (a, b) {
            (Some(a), Some(b)) => assert!(close(a, b, 1e-12), "case {case} correlated: {a} vs {b}"),
            (None, None) => {}
            _ => panic!("case {case} correlated: {a:?} vs {b:?}"),
        }
    }
    assert!(defined > 400, "too few defined cases: {defined}");
}

#[test]
fn knight_matches_naive_without_ties_and_with_signed_zero() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for n in 2..60 {
        let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let (a, b) = (
            kendall_tau_b(&x, &y).expect("defined"),
            kendall_tau_b_naive(&x, &y).expect("defined"),
        );
        assert!(close(a, b, 1e-12), "n={n}: {a} vs {b}");
    }
    // -0.0 and 0.0 are the same value (tied), as in scipy.
    let x = [0.0, -0.0, 1.0, 2.0];
    let y = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(kendall_tau_b(&x, &y), kendall_tau_b_naive(&x, &y));
    assert!(close(kendall_tau_b(&x, &y).expect("defined"), 5.0 / 30f64.sqrt(), 1e-15));
}

/// Reference values computed with scipy 1.17.1:
/// `scipy.stats.kendalltau(x, y).statistic`, `scipy.stats.spearmanr(x, y).statistic` and
/// `scipy.stats.pearsonr(x, y).statistic`.
#[test]
fn known_values_from_scipy() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&[f64], &[f64], f64, f64, f64)] = &[
        (
            &[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.],
            &[3., 1., 2., 5., 4., 7., 6., 10., 8., 9.],
            0.7333333333333333,
            0.9030303030303028,
            0.9030303030303027,
        ),
        (
            &[1., 1., 2., 2., 3., 3., 4., 4.],
            &[1., 2., 1., 3., 2., 4., 3., 4.],
            0.5833333333333335,
            0.7000000000000001,
            0.7,
        ),
        (
            &[0., 0., 0., 1., 1., 2., 2., 2., 2., 3.],
            &[5., 5., 1., 1., 2., 2., 2., 3., 3., 0.],
            -0.27066598098038336,
            -0.3670069383908215,
            -0.5223459747318985,
        ),
        (
            &[0.5, -1.25, 3.0, 2.0, 2.0, 7.5, 0.0],
            &[10.0, 4.0, -2.0, 1.0, 1.0, -3.5, 8.0],
            -0.7,
            -0.8545454545454546,
            -0.7624030899803182,
        ),
    ];
    for (i, &(x, y, tau, rho, r)) in cases.iter().enumerate() {
        let got = kendall_tau_b(x, y).expect("defined");
        assert!(close(got, tau, 1e-12), "case {i}: tau {got} vs scipy {tau}");
        let got = kendall_tau_b_naive(x, y).expect("defined");
        assert!(close(got, tau, 1e-12), "case {i}: naive tau {got} vs scipy {tau}");
        let got = spearman_rho(x, y).expect("defined");
        assert!(close(got, rho, 1e-12), "case {i}: rho {got} vs scipy {rho}");
        let got = pearson(x, y).expect("defined");
        assert!(close(got, r, 1e-12), "case {i}: r {got} vs scipy {r}");
    }
}

/// `scipy.stats.rankdata([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])` (average method).
#[test]
fn average_ranks_match_scipy() {
    let r = ranks(&[3., 1., 4., 1., 5., 9., 2., 6., 5., 3., 5.]);
    assert_eq!(r, vec![4.5, 1.5, 6.0, 1.5, 8.0, 11.0, 3.0, 10.0, 8.0, 4.5, 8.0]);
    assert!(ranks(&[]).is_empty());
}

#[test]
fn spearman_with_ties() {
    // Monotone with ties on both sides: rho is exactly 1, tau-b too.
    let x = [1., 2., 2., 3., 4., 4., 4.];
    let y = [10., 20., 20., 30., 40., 40., 40.];
    assert!(close(spearman_rho(&x, &y).expect("defined"), 1.0, 1e-12));
    assert!(close(kendall_tau_b(&x, &y).expect("defined"), 1.0, 1e-12));
    // Reversed.
    let yr: Vec<f64> = y.iter().map(|v| -v).collect();
    assert!(close(spearman_rho(&x, &yr).expect("defined"), -1.0, 1e-12));
    // Constant input: undefined, as scipy's NaN.
    assert_eq!(spearman_rho(&x, &[1.0; 7]), None);
}

#[test]
fn undefined_and_non_finite_cases() {
    assert_eq!(kendall_tau_b(&[], &[]), None);
    assert_eq!(kendall_tau_b(&[1.0], &[2.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 2.0], &[1.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(spearman_rho(&[1.0, 2.0, 3.0], &[1.0, f64::INFINITY, 3.0]), None);
    assert_eq!(pearson(&[1.0, 2.0], &[f64::NEG_INFINITY, 3.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 2.0], &[1.0, 2.0]), Some(1.0));

    let (x, y) = finite_pairs(&[1.0, f64::NAN, 3.0, 4.0, 5.0], &[1.0, 2.0, f64::INFINITY, 4.0]);
    assert_eq!((x.as_slice(), y.as_slice()), (&[1.0, 4.0][..], &[1.0, 4.0][..]));
}

#[test]
fn mean_and_sample_std() {
    // numpy: np.mean(v) = 5.0, np.std(v, ddof=1) = 2.138089935299395.
    let (m, s) = mean_std(&[2., 4., 4., 4., 5., 5., 7., 9.]);
    assert!(close(m, 5.0, 1e-15) && close(s, 2.138089935299395, 1e-12), "{m} {s}");
    assert_eq!(mean_std(&[3.5]), (3.5, 0.0));
    let (m, s) = mean_std(&[]);
    assert!(m.is_nan() && s.is_nan());
}

#[test]
fn bootstrap_interval_contains_estimate_and_is_deterministic() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let x: Vec<f64> = (0..80).map(|i| i as f64).collect();
    let y: Vec<f64> = x.iter().map(|v| v + rng.random_range(0.0..40.0)).collect();
    let tau = kendall_tau_b(&x, &y).expect("defined");
    let (lo, hi) = bootstrap_ci(&x, &y, kendall_tau_b, 500, 1, 0.95).expect("defined");
    assert!(lo < tau && tau < hi, "{lo} < {tau} < {hi}");
    assert!(hi - lo > 0.01 && hi - lo < 0.5, "width {}", hi - lo);
    assert_eq!(bootstrap_ci(&x, &y, kendall_tau_b, 500, 1, 0.95), Some((lo, hi)));
    assert_ne!(bootstrap_ci(&x, &y, kendall_tau_b, 500, 2, 0.95), Some((lo, hi)));
    // A narrower level gives a narrower interval from the same resamples.
    let (lo50, hi50) = bootstrap_ci(&x, &y, kendall_tau_b, 500, 1, 0.5).expect("defined");
    assert!(lo <= lo50 && hi50 <= hi);

    let rho = spearman_rho(&x, &y).expect("defined");
    let (lo, hi) = bootstrap_ci(&x, &y, spearman_rho, 300, 5, 0.9).expect("defined");
    assert!(lo < rho && rho < hi, "{lo} < {rho} < {hi}");

    assert_eq!(bootstrap_ci(&x, &y, kendall_tau_b, 0, 1, 0.95), None);
    assert_eq!(bootstrap_ci(&x, &y, kendall_tau_b, 10, 1, 1.0), None);
    assert_eq!(bootstrap_ci(&[1.0], &[1.0], kendall_tau_b, 10, 1, 0.95), None);
    assert_eq!(bootstrap_ci(&[1.0, f64::NAN], &[1.0, 2.0], kendall_tau_b, 10, 1, 0.95), None);
}

#[test]
fn kendall_on_100k_elements() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 100_000;
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..1000) as f64).collect();
    let y: Vec<f64> = x.iter().map(|v| v + rng.random_range(0..500) as f64).collect();
    let tau = kendall_tau_b(&x, &y).expect("defined");
    assert!(tau > 0.5 && tau < 1.0, "{tau}");
    // Same data reversed gives the opposite.
    let yr: Vec<f64> = y.iter().map(|v| -v).collect();
    assert!(close(kendall_tau_b(&x, &yr).expect("defined"), -tau, 1e-12));
}
