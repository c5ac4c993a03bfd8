//! Sample statistics for measured series: means, standard deviations, the
//! block-averaged standard error of a correlated (Markov-chain) series, the
//! delete-one-group jackknife error, nearest-rank quantiles, and the
//! integrated autocorrelation time of scalar and pattern series.
//!
//! Every function sums in slice order, so callers that replaced a
//! hand-written `sum / n` keep their numbers bit for bit.

/// Arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n - 1 denominator, the unbiased variance's
/// root): 0 for one value, NaN for none.
pub fn std_dev(values: &[f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return 0.0;
    }
    let mean = mean(values);
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// `(mean(values), std_dev(values))`.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    (mean(values), std_dev(values))
}

/// Population standard deviation (1/n denominator): the spread of the values
/// themselves, as used to standardise a pattern; NaN for no values.
pub fn population_std(values: &[f64]) -> f64 {
    let mean = mean(values);
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

/// Mean of a correlated series and its standard error by block averaging:
/// the series is cut into `blocks` equal contiguous blocks (`blocks` is
/// capped at the series length; a remainder shorter than a block enters the
/// mean but no block), and the error is the sample standard deviation of the
/// block means over sqrt(blocks). Blocks much longer than the correlation
/// time are close to independent, so this error holds where the naive
/// std / sqrt(n) of correlated steps is too small. The mean is over all
/// values. NaN mean for no values, NaN error for fewer than two blocks.
pub fn block_mean_error(values: &[f64], blocks: usize) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let blocks = blocks.min(n);
    if blocks < 2 {
        return (mean, f64::NAN);
    }
    let size = n / blocks;
    let block_means: Vec<f64> =
        (0..blocks).map(|b| values[b * size..(b + 1) * size].iter().sum::<f64>() / size as f64).collect();
    let bm = block_means.iter().sum::<f64>() / blocks as f64;
    let var = block_means.iter().map(|v| (v - bm).powi(2)).sum::<f64>() / (blocks - 1) as f64;
    (mean, (var / blocks as f64).sqrt())
}

/// Mean of a correlated series and its standard error from its integrated
/// autocorrelation time `tau` (in records): sqrt(2 tau var / n) (Sokal),
/// var the sample variance. Where the time is only a lower bound (`closed`
/// false: Sokal's window did not close) the error is at least the block
/// error of `blocks` blocks; where it is not finite (a constant or too
/// short a series), the block error alone.
pub fn correlated_mean_error(values: &[f64], (tau, closed): (f64, bool), blocks: usize) -> (f64, f64) {
    let (mean, block_error) = block_mean_error(values, blocks);
    let n = values.len();
    if !tau.is_finite() || n < 2 {
        return (mean, block_error);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let error = (2.0 * tau * var / n as f64).sqrt();
    (mean, if closed { error } else { error.max(block_error) })
}

/// Delete-one-group jackknife standard error from the G leave-one-group-out
/// estimates: sqrt((G - 1) / G sum_g (v_g - mean(v))^2). For a linear
/// estimator (the mean) it is exactly the standard error of the mean; for a
/// ratio of sums (chi) it also carries the spread of the denominator.
/// 0 for one estimate, NaN for none.
pub fn jackknife_error(leave_out: &[f64]) -> f64 {
    let groups = leave_out.len();
    if groups == 0 {
        return f64::NAN;
    }
    let mean = mean(leave_out);
    let var = (groups - 1) as f64 / groups as f64 * leave_out.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    var.sqrt()
}

/// The `q`-quantile of ascending `sorted` values by the nearest-rank rule
/// `sorted[round((len - 1) q)]` (q clamped to [0, 1]; the median of an even
/// count is the upper middle value); NaN for no values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The autocorrelation of one or more series of vectors of `dim` values,
/// pooled over the series, at lags 0..=`max_lag` (samples): rho(l) =
/// <x_t . x_(t+l)> / <x_t . x_t>, each average over the pairs the series
/// hold. The vectors are taken as deviations already: for patterns, phi_A
/// minus its spatial mean, so a pattern that stays put keeps rho = 1 (the
/// time mean of a frozen pattern is the pattern, and subtracting it would
/// call it decorrelated). Lags with no pair are left out.
pub fn vector_autocorrelation(series: &[&[f64]], dim: usize, max_lag: usize) -> Vec<f64> {
    let mut rho = Vec::with_capacity(max_lag + 1);
    let mut zero = 0.0;
    for lag in 0..=max_lag {
        let (mut sum, mut pairs) = (0.0, 0usize);
        for x in series {
            let t = x.len() / dim;
            for i in 0..t.saturating_sub(lag) {
                let (a, b) = (&x[i * dim..(i + 1) * dim], &x[(i + lag) * dim..(i + lag + 1) * dim]);
                sum += a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
                pairs += 1;
            }
        }
        if pairs == 0 {
            break;
        }
        let c = sum / pairs as f64;
        if lag == 0 {
            zero = c;
        }
        rho.push(c / zero);
    }
    rho
}

/// The autocorrelation of scalar series, each about its own mean, pooled
/// as `vector_autocorrelation` pools.
pub fn scalar_autocorrelation(series: &[&[f64]], max_lag: usize) -> Vec<f64> {
    let centred: Vec<Vec<f64>> = series
        .iter()
        .map(|x| {
            let m = mean(x);
            x.iter().map(|v| v - m).collect()
        })
        .collect();
    let refs: Vec<&[f64]> = centred.iter().map(|x| x.as_slice()).collect();
    vector_autocorrelation(&refs, 1, max_lag)
}

/// The integrated autocorrelation time, in samples, of a normalised
/// autocorrelation rho (rho[0] = 1): tau = 1/2 + sum_(l=1..W) rho(l) with
/// Sokal's self-consistent window, the first W with W >= 5 tau(W). An
/// independent series has tau = 1/2, so 2 tau samples apart are about
/// independent. Returns (tau, whether the window closed within the lags
/// given; if not, tau is a lower bound).
pub fn integrated_time(rho: &[f64]) -> (f64, bool) {
    let mut tau = 0.5;
    for (w, r) in rho.iter().enumerate().skip(1) {
        tau += r;
        if w as f64 >= 5.0 * tau {
            return (tau, true);
        }
    }
    (tau, false)
}
