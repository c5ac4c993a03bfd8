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
    pub fn forward(&self, v: Tensor<4>) -> Tensor<4> {
        let [b, mx, my, c_in] = v.dims();
        let device = v.device();
        let (kx2, ky) = (2 * self.modes_x, self.modes_y);
        let modes = kx2 * ky;
        let c_out = self.weight_re.val().dims()[2];
        let dft = DftMatrices::new(mx, my, self.modes_x, self.modes_y);
        let matrix = |values: Vec<f64>, rows: usize, cols: usize| -> Tensor<3> {
            let data: Vec<f32> = values.into_iter().map(|x| x as f32).collect();
            Tensor::<2>::from_data(TensorData::new(data, [rows, cols]), &device).unsqueeze::<3>()
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
        // y: [2K, My] = [cos; -sin] rows, applied to [B*Mx, My, C].
        let mut fwd_y = transpose(&dft.fwd_y_cos, my, ky);
        fwd_y.extend(transpose(&dft.fwd_y_sin, my, ky));
        let fwd_y = matrix(fwd_y, 2 * ky, my);
        let spec_y = fwd_y.matmul(v.reshape([b * mx, my, c_in])); // [B*Mx, 2K, C]
        // x: complex DFT over Mx of (Re | Im) blocks.
        let spec_y = spec_y.reshape([b, mx, 2 * ky * c_in]);
        let fc = matrix(dft.fwd_x_cos.clone(), kx2, mx);
        let fs = matrix(dft.fwd_x_sin.clone(), kx2, mx);
        let p = fc.matmul(spec_y.clone()); // [B, 2Kx, 2K*C]: (Fc Vr | Fc Vi)
        let q = fs.matmul(spec_y); // (Fs Vr | Fs Vi)
        let half = ky * c_in;
        // e^{-i theta}: U = (Fc Vr + Fs Vi) + i (Fc Vi - Fs Vr).
        let u_re = p.clone().narrow(2, 0, half) + q.clone().narrow(2, half, half);
        let u_im = p.narrow(2, half, half) - q.narrow(2, 0, half);
        let u = Tensor::cat(vec![u_re.reshape([b, kx2, ky, c_in]), u_im.reshape([b, kx2, ky, c_in])], 3)
            .permute([1, 2, 0, 3])
            .reshape([modes, b, 2 * c_in]);
        // Mode-wise complex mixing as one real block matmul:
        // [Ur | Ui] @ [[Wr, Wi], [-Wi, Wr]] = [Or | Oi].
        let (w_re, w_im) = (self.weight_re.val(), self.weight_im.val());
        let top = Tensor::cat(vec![w_re.clone(), w_im.clone()], 2);
        let bottom = Tensor::cat(vec![w_im.neg(), w_re], 2);
        let mixed = u.matmul(Tensor::cat(vec![top, bottom], 1)); // [M, B, 2O]
        let mixed = mixed.reshape([kx2, ky, b, 2 * c_out]).permute([2, 0, 1, 3]).reshape([b, kx2, ky * 2 * c_out]);
        // Inverse x with e^{+i theta}: y = (Gc Or - Gs Oi) + i (Gc Oi + Gs Or).
        let gc = matrix(dft.inv_x_cos.clone(), mx, kx2);
        let gs = matrix(dft.inv_x_sin.clone(), mx, kx2);
        let pc = gc.matmul(mixed.clone()).reshape([b, mx, ky, 2 * c_out]);
        let ps = gs.matmul(mixed).reshape([b, mx, ky, 2 * c_out]);
        let y_re = pc.clone().narrow(3, 0, c_out) - ps.clone().narrow(3, c_out, c_out);
        let y_im = pc.narrow(3, c_out, c_out) + ps.narrow(3, 0, c_out);
        let y = Tensor::cat(vec![y_re, y_im], 2).reshape([b * mx, 2 * ky, c_out]);
        // Inverse real FFT along y from the kept columns: [My, 2K] @ [B*Mx, 2K, O].
        let mut inv_y = Vec::with_capacity(my * 2 * ky);
        for yy in 0..my {
            for k in 0..ky {
                inv_y.push(dft.inv_y_cos[k * my + yy]);
            }
            for k in 0..ky {
                inv_y.push(dft.inv_y_sin[k * my + yy]);
            }
        }
        let inv_y = matrix(inv_y, my, 2 * ky);
        inv_y.matmul(y).reshape([b, mx, my, c_out])
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
