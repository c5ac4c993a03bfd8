//! Which solver a loop uses, parsed once: the exact solver alone
//! (`exact`), or with a trained operator (`operator:CHECKPOINT`), and the
//! device the operator runs on. `roles::resolve` turns the choice into the
//! loaded `SolverSet`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, anyhow, bail};
use burn::prelude::*;

/// The backend an operator runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Burn's Flex backend on the CPU.
    #[default]
    Cpu,
    /// wgpu (Vulkan/Metal/DX12); needs a build with the `wgpu` feature.
    Wgpu,
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "cpu" | "flex" => Ok(Backend::Cpu),
            "wgpu" => Ok(Backend::Wgpu),
            other => bail!("unknown backend {other:?}: expected cpu or wgpu"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
        })
    }
}

impl Backend {
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this mesofield was built without the wgpu backend (cargo build --features wgpu)")
}

/// `exact`, or `operator:CHECKPOINT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SolverChoice {
    #[default]
    Exact,
    Operator(PathBuf),
}

impl FromStr for SolverChoice {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Self> {
        if text == "exact" {
            return Ok(SolverChoice::Exact);
        }
        match text.strip_prefix("operator:") {
            Some(dir) if !dir.is_empty() => Ok(SolverChoice::Operator(PathBuf::from(dir))),
            _ => Err(anyhow!("--solver {text:?}: expected exact or operator:CHECKPOINT")),
        }
    }
}

impl fmt::Display for SolverChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SolverChoice::Exact => f.write_str("exact"),
            SolverChoice::Operator(dir) => write!(f, "operator:{}", dir.display()),
        }
    }
}
