//! Sample statistics for measured series: means, standard deviations, the
//! block-averaged standard error of a correlated (Markov-chain) series, the
//! delete-one-group jackknife error and nearest-rank quantiles.
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
