//! The 2D Fourier neural operator (Li et al. 2021) for w -> phi.
//!
//! Layout is channels-last, `[B, Mx, My, C]`, so the pointwise layers are
//! `Linear` on the last axis. Lifting MLP -> L Fourier layers
//! (v <- GELU(K v + W v), no activation after the last) -> projection MLP.
//! The spectral convolution K is a truncated DFT written as small matrix
//! products (any grid size, every backend); see `dft` for the conventions.
//!
//! Without the optional positional embedding every stage commutes with grid
//! translations, so the operator is translation-equivariant, as the exact
//! map on a periodic box is.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{gelu, softplus};

use crate::dft::DftMatrices;

#[derive(Config, Debug, PartialEq)]
pub struct FnoConfig {
    /// Channels of the Fourier layers.
    #[config(default = 32)]
    pub width: usize,
    #[config(default = 4)]
    pub layers: usize,
    /// Kept x wave numbers: 0..modes_x and -modes_x..-1.
    #[config(default = 12)]
    pub modes_x: usize,
    /// Kept real-FFT y wave numbers: 0..modes_y.
    #[config(default = 12)]
    pub modes_y: usize,
    /// Hidden channels of the lifting MLP, as a multiple of `width`.
    #[config(default = 2)]
    pub lifting_ratio: usize,
    #[config(default = 64)]
    pub projection_hidden: usize,
    /// Append sin/cos of 2 pi x / Lx and 2 pi y / Ly to the input. Breaks
    /// translation equivariance; off by default.
    #[config(default = false)]
    pub positional_embedding: bool,
    /// A scalar head for ln Q of the zero-mean fields (mean-pooled features).
    #[config(default = true)]
    pub predict_log_q: bool,
    /// Densities as exp(logit) instead of softplus(logit) (both normalised
    /// to the chain's mean). A chain in a strong field crowds into the
    /// field's wells with Boltzmann-like weights, so ln phi stays close to
    /// linear in w where phi itself is steep; off by default, which keeps
    /// checkpoints from before the option loading unchanged.
    #[config(default = false)]
    pub log_density: bool,
}

impl FnoConfig {
    pub fn input_channels(&self) -> usize {
        if self.positional_embedding { 6 } else { 2 }
    }

    pub fn init(&self, device: &Device) -> Fno {
        let hidden = self.lifting_ratio * self.width;
        Fno {
            lift_in: LinearConfig::new(self.input_channels(), hidden).init(device),
            lift_out: LinearConfig::new(hidden, self.width).init(device),
            layers: (0..self.layers)
                .map(|_| FourierLayer {
                    spectral: SpectralConv2d::new(self.width, self.width, self.modes_x, self.modes_y, device),
                    skip: LinearConfig::new(self.width, self.width).init(device),
                })
                .collect(),
            project_in: LinearConfig::new(self.width, self.projection_hidden).init(device),
            project_out: LinearConfig::new(self.projection_hidden, 2).init(device),
            log_q_head: self.predict_log_q.then(|| LinearConfig::new(self.width, 1).init(device)),
            positional_embedding: self.positional_embedding,
            log_density: self.log_density,
        }
    }
}

/// K v: per kept mode, a complex channel-mixing matrix.
#[derive(Module, Debug)]
pub struct SpectralConv2d {
    /// [2 modes_x * modes_y, C_in, C_out], mode index = kx_row * modes_y + ky.
    pub weight_re: Param<Tensor<3>>,
    pub weight_im: Param<Tensor<3>>,
    pub modes_x: usize,
    pub modes_y: usize,
}

impl SpectralConv2d {
    pub fn new(c_in: usize, c_out: usize, modes_x: usize, modes_y: usize, device: &Device) -> Self {
        let modes = 2 * modes_x * modes_y;
        // The FNO paper's initialisation: uniform in [0, 1/(C_in C_out)).
        let scale = 1.0 / (c_in * c_out) as f64;
        let init = || Tensor::<3>::random([modes, c_in, c_out], Distribution::Uniform(0.0, scale), device);
        SpectralConv2d {
            weight_re: Param::from_tensor(init()),
            weight_im: Param::from_tensor(init()),
            modes_x,
            modes_y,
        }
    }

    /// A grid must hold at least twice the modes in each direction.
    pub fn check_grid(&self, mx: usize, my: usize) -> Result<(), String> {
        if mx < 2 * self.modes_x || my < 2 * self.modes_y {
            return Err(format!(
                "grid {mx}x{my} is smaller than twice the operator's modes ({}x{} needs at least {}x{})",
                self.modes_x,
                self.modes_y,
                2 * self.modes_x,
                2 * self.modes_y
            ));
        }
        Ok(())
    }

    /// `v` is `[B, Mx, My, C_in]`; returns `[B, Mx, My, C_out]`.
    ///
    /// Real and imaginary parts travel as separate contiguous tensors, so
    /// every stage is a matrix product or a plain sum: no concatenation of
    /// the weights into a real block matrix per call, no strided slices of
    /// combined (Re | Im) tensors. The only copies are the two layout
    /// changes around the mode-wise mixing, which is batched over modes.
    pub fn forward(&self, v: Tensor<4>) -> Tensor<4> {
        let [b, mx, my, c_in] = v.dims();
        let (kx2, ky) = (2 * self.modes_x, self.modes_y);
        let modes = kx2 * ky;
        let c_out = self.weight_re.val().dims()[2];
        let m = DftTensors::cached(mx, my, self.modes_x, self.modes_y, &v.device());
        // y: the kept real-FFT columns, [B*Mx, Ky, C] -> [B, Mx, Ky*C].
        let v = v.reshape([b * mx, my, c_in]);
        let s_re = m.fwd_y_cos.clone().matmul(v.clone()).reshape([b, mx, ky * c_in]);
        let s_im = m.fwd_y_sin.clone().matmul(v).reshape([b, mx, ky * c_in]);
        // x with e^{-i theta}: U = (Fc Sr + Fs Si) + i (Fc Si - Fs Sr), [B, 2Kx, Ky*C].
        let u_re = m.fwd_x_cos.clone().matmul(s_re.clone()) + m.fwd_x_sin.clone().matmul(s_im.clone());
        let u_im = m.fwd_x_cos.clone().matmul(s_im) - m.fwd_x_sin.clone().matmul(s_re);
        // Mode-wise complex mixing, batched over modes: [modes, B, C].
        let to_modes = |u: Tensor<3>| u.reshape([b, modes, c_in]).swap_dims(0, 1);
        let (u_re, u_im) = (to_modes(u_re), to_modes(u_im));
        let (w_re, w_im) = (self.weight_re.val(), self.weight_im.val());
        let o_re = u_re.clone().matmul(w_re.clone()) - u_im.clone().matmul(w_im.clone());
        let o_im = u_re.matmul(w_im) + u_im.matmul(w_re);
        let from_modes = |o: Tensor<3>| o.swap_dims(0, 1).reshape([b, kx2, ky * c_out]);
        let (o_re, o_im) = (from_modes(o_re), from_modes(o_im));
        // Inverse x with e^{+i theta}: Y = (Gc Or - Gs Oi) + i (Gc Oi + Gs Or).
        let y_re = m.inv_x_cos.clone().matmul(o_re.clone()) - m.inv_x_sin.clone().matmul(o_im.clone());
        let y_im = m.inv_x_cos.clone().matmul(o_im) + m.inv_x_sin.clone().matmul(o_re);
        // Inverse real FFT along y from the kept columns: [My, Ky] @ [B*Mx, Ky, O].
        let y_re = y_re.reshape([b * mx, ky, c_out]);
        let y_im = y_im.reshape([b * mx, ky, c_out]);
        (m.inv_y_cos.clone().matmul(y_re) + m.inv_y_sin.clone().matmul(y_im)).reshape([b, mx, my, c_out])
    }
}

/// The truncated DFT of `dft::DftMatrices` as float tensors `[1, rows, cols]`
/// (broadcast over the batch in `matmul`), built once per grid, modes and
/// device on each thread and reused by every forward pass: building them
/// costs trigonometry and a transfer per call otherwise.
#[derive(Clone)]
struct DftTensors {
    /// [Ky, My]: cos and -sin of 2 pi ky y / My.
    fwd_y_cos: Tensor<3>,
    fwd_y_sin: Tensor<3>,
    /// [2Kx, Mx]: cos and sin of 2 pi kx x / Mx.
    fwd_x_cos: Tensor<3>,
    fwd_x_sin: Tensor<3>,
    /// [Mx, 2Kx].
    inv_x_cos: Tensor<3>,
    inv_x_sin: Tensor<3>,
    /// [My, Ky]: c_ky cos / (Mx My) and -c_ky sin / (Mx My).
    inv_y_cos: Tensor<3>,
    inv_y_sin: Tensor<3>,
}

type DftKey = (usize, usize, usize, usize);

thread_local! {
    static DFT_CACHE: std::cell::RefCell<Vec<(DftKey, Device, DftTensors)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl DftTensors {
    fn cached(mx: usize, my: usize, modes_x: usize, modes_y: usize, device: &Device) -> DftTensors {
        let key = (mx, my, modes_x, modes_y);
        DFT_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some((_, _, t)) = cache.iter().find(|(k, d, _)| *k == key && d == device) {
                return t.clone();
            }
            let t = DftTensors::new(mx, my, modes_x, modes_y, device);
            cache.push((key, device.clone(), t.clone()));
            t
        })
    }

    fn new(mx: usize, my: usize, modes_x: usize, modes_y: usize, device: &Device) -> DftTensors {
        let dft = DftMatrices::new(mx, my, modes_x, modes_y);
        let matrix = |values: Vec<f64>, rows: usize, cols: usize| -> Tensor<3> {
            let data: Vec<f32> = values.into_iter().map(|x| x as f32).collect();
            Tensor::<2>::from_data(TensorData::new(data, [rows, cols]), device).unsqueeze::<3>()
        };
        let transpose = |values: &[f64], rows: usize, cols: usize| -> Vec<f64> {
            let mut t = vec![0.0; rows * cols];
            for r in 0..rows {
                for c in 0..cols {
                    t[c * rows + r] = values[r * cols + c];
                }
            }
            t
        };
        let (kx2, ky) = (2 * modes_x, modes_y);
        DftTensors {
            fwd_y_cos: matrix(transpose(&dft.fwd_y_cos, my, ky), ky, my),
            fwd_y_sin: matrix(transpose(&dft.fwd_y_sin, my, ky), ky, my),
            fwd_x_cos: matrix(dft.fwd_x_cos.clone(), kx2, mx),
            fwd_x_sin: matrix(dft.fwd_x_sin.clone(), kx2, mx),
            inv_x_cos: matrix(dft.inv_x_cos.clone(), mx, kx2),
            inv_x_sin: matrix(dft.inv_x_sin.clone(), mx, kx2),
            inv_y_cos: matrix(transpose(&dft.inv_y_cos, ky, my), my, ky),
            inv_y_sin: matrix(transpose(&dft.inv_y_sin, ky, my), my, ky),
        }
    }
}

#[derive(Module, Debug)]
pub struct FourierLayer {
    pub spectral: SpectralConv2d,
    pub skip: Linear,
}

#[derive(Module, Debug)]
pub struct Fno {
    pub lift_in: Linear,
    pub lift_out: Linear,
    pub layers: Vec<FourierLayer>,
    pub project_in: Linear,
    pub project_out: Linear,
    pub log_q_head: Option<Linear>,
    pub positional_embedding: bool,
    pub log_density: bool,
}

/// Raw network outputs before the physics mapping.
pub struct FnoOutput {
    /// `[B, Mx, My, 2]`.
    pub density_logits: Tensor<4>,
    /// `[B]`, normalised ln Q of the zero-mean fields, if predicted.
    pub log_q: Option<Tensor<1>>,
}

impl Fno {
    pub fn modes(&self) -> (usize, usize) {
        let s = &self.layers[0].spectral;
        (s.modes_x, s.modes_y)
    }

    pub fn check_grid(&self, mx: usize, my: usize) -> Result<(), String> {
        self.layers[0].spectral.check_grid(mx, my)
    }

    /// `densities` with this model's density map.
    pub fn densities(&self, logits: Tensor<4>, f_a: f64, scale: [f64; 2]) -> Tensor<4> {
        densities(logits, f_a, scale, self.log_density)
    }

    /// `x` is `[B, Mx, My, 2]`: normalised, zero-mean w_A, w_B.
    pub fn forward(&self, x: Tensor<4>) -> FnoOutput {
        let [b, mx, my, _] = x.dims();
        let x = if self.positional_embedding { append_positions(x, b, mx, my) } else { x };
        let mut v = self.lift_out.forward(gelu(self.lift_in.forward(x)));
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            let next = layer.spectral.forward(v.clone()) + layer.skip.forward(v);
            v = if i < last { gelu(next) } else { next };
        }
        let log_q = self.log_q_head.as_ref().map(|head| {
            let pooled = v.clone().mean_dims(&[1, 2]).reshape([b, v.dims()[3]]);
            head.forward(pooled).reshape([b])
        });
        let density_logits = self.project_out.forward(gelu(self.project_in.forward(v)));
        FnoOutput { density_logits, log_q }
    }
}

fn append_positions(x: Tensor<4>, b: usize, mx: usize, my: usize) -> Tensor<4> {
    let device = x.device();
    let mut pos = Vec::with_capacity(mx * my * 4);
    for ix in 0..mx {
        for iy in 0..my {
            let (tx, ty) = (
                2.0 * std::f64::consts::PI * ix as f64 / mx as f64,
                2.0 * std::f64::consts::PI * iy as f64 / my as f64,
            );
            pos.extend([tx.sin() as f32, tx.cos() as f32, ty.sin() as f32, ty.cos() as f32]);
        }
    }
    let pos = Tensor::<4>::from_data(TensorData::new(pos, [1, mx, my, 4]), &device).repeat_dim(0, b);
    Tensor::cat(vec![x, pos], 3)
}

/// softplus^{-1}(1): the logit of a uniform density.
pub const UNIFORM_LOGIT: f64 = 0.541_324_854_612_918_1;

/// sigmoid(softplus^{-1}(1)) = 1 - 1/e: the slope of softplus at `UNIFORM_LOGIT`.
pub const UNIFORM_SLOPE: f64 = 0.632_120_558_828_557_7;

/// Densities from logits with the model's exact constraints: each channel
/// non-negative (softplus, or exp with `log_density`) with the mean the chain
/// fixes, mean(phi_A) = f and mean(phi_B) = 1 - f, so mean(phi_A + phi_B) = 1.
/// `scale[t]` sets the logit's spread (fitted on the training set); both maps
/// have the same slope at a uniform density, so a unit logit means the same
/// change of phi to either. Returns `[B, Mx, My, 2]`.
pub fn densities(logits: Tensor<4>, f_a: f64, scale: [f64; 2], log_density: bool) -> Tensor<4> {
    let [b, mx, my, _] = logits.dims();
    let mut channels = Vec::with_capacity(2);
    for (t, fraction) in [(0usize, f_a), (1usize, 1.0 - f_a)] {
        let logit = logits.clone().narrow(3, t, 1);
        let p = if log_density {
            let z = logit.mul_scalar(scale[t] * UNIFORM_SLOPE);
            // The normalisation below cancels any per-sample shift; taking
            // the maximum out keeps exp from overflowing.
            let peak = z.clone().max_dims(&[1, 2]).detach();
            (z - peak).exp()
        } else {
            softplus(logit.mul_scalar(scale[t]).add_scalar(UNIFORM_LOGIT), 1.0)
        };
        let mean = p.clone().mean_dims(&[1, 2]);
        channels.push(p.div(mean).mul_scalar(fraction));
    }
    Tensor::cat(channels, 3).reshape([b, mx, my, 2])
}
