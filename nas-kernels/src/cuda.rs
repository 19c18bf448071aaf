//! NASWOT's K step on an NVIDIA GPU (feature `cuda`): the kernel in `kernels/naswot.cu` is
//! compiled at run time by NVRTC and the driver is loaded dynamically, so the feature builds on a
//! machine without the CUDA toolkit. [`GpuKAccumulator::new`] says why when no GPU can be used,
//! and callers fall back to the CPU kernel. The log-determinant of the 128 x 128 K stays on the
//! CPU (microseconds).

use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use nas_core::{Error, Result};

use crate::naswot::{BitCodes, k_from_hamming, score_of_k};

const SOURCE: &str = include_str!("kernels/naswot.cu");

fn driver(e: cudarc::driver::DriverError) -> Error {
    Error::backend_message(format!("cuda: {e:?}")).with_source(e)
}

/// GPU 0 with the compiled kernel, opened once per process.
#[derive(Debug)]
struct Gpu {
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
}

#[allow(unsafe_code)]
fn open() -> std::result::Result<Gpu, String> {
    // Without these libraries cudarc panics on first use: check first.
    // SAFETY: both only try to dlopen the library and report whether it loaded.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("no CUDA driver library (libcuda.so) on this machine".into());
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err("no NVRTC library (libnvrtc.so) on this machine".into());
    }
    let ctx = CudaContext::new(0).map_err(|e| format!("no usable CUDA device: {e:?}"))?;
    let ptx = cudarc::nvrtc::compile_ptx(SOURCE).map_err(|e| format!("kernel compilation failed: {e:?}"))?;
    let module = ctx.load_module(ptx).map_err(|e| format!("kernel load failed: {e:?}"))?;
    let kernel = module.load_function("xor_popcount_pairs").map_err(|e| format!("kernel load failed: {e:?}"))?;
    Ok(Gpu { stream: ctx.default_stream(), kernel })
}

fn gpu() -> std::result::Result<&'static Gpu, &'static str> {
    static GPU: OnceLock<std::result::Result<Gpu, String>> = OnceLock::new();
    GPU.get_or_init(open).as_ref().map_err(String::as_str)
}

/// Why the GPU cannot be used, or `None` when it can.
pub fn unavailable_reason() -> Option<&'static str> {
    gpu().err()
}

/// `K` accumulated on the GPU; the same results as [`crate::naswot::KAccumulator`].
#[derive(Debug)]
pub struct GpuKAccumulator {
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
    batch: usize,
    units: u64,
    hamming: CudaSlice<u64>,
}

impl GpuKAccumulator {
    /// An accumulator on GPU 0; an `Unavailable` error says why there is none.
    pub fn new(batch: usize) -> Result<Self> {
        let gpu = gpu().map_err(|why| Error::Unavailable(why.into()))?;
        let hamming = gpu.stream.alloc_zeros::<u64>(batch * batch).map_err(driver)?;
        Ok(GpuKAccumulator { stream: gpu.stream.clone(), kernel: gpu.kernel.clone(), batch, units: 0, hamming })
    }

    /// Adds the codes of one layer.
    pub fn add_codes(&mut self, codes: &BitCodes) -> Result<()> {
        if codes.batch() != self.batch {
            return Err(Error::invalid(
                "codes",
                format!("batch {} added to a K of batch {}", codes.batch(), self.batch),
            ));
        }
        let words = self.stream.clone_htod(codes.words()).map_err(driver)?;
        let (batch, per_image) = (self.batch as i32, codes.words_per_image() as i32);
        let config = LaunchConfig { grid_dim: (self.batch as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
        let mut launch = self.stream.launch_builder(&self.kernel);
        launch.arg(&words).arg(&mut self.hamming).arg(&batch).arg(&per_image);
        // SAFETY: the kernel reads batch * per_image words of `words` (its exact length) and
        // writes only hamming[i * batch + j] for i < j < batch, inside its batch * batch length.
        #[allow(unsafe_code)]
        unsafe { launch.launch(config) }.map_err(driver)?;
        self.units += codes.units() as u64;
        Ok(())
    }

    /// `K` as a full symmetric row-major `batch x batch` matrix.
    pub fn k(&self) -> Result<Vec<u64>> {
        let hamming = self.stream.clone_dtoh(&self.hamming).map_err(driver)?;
        Ok(k_from_hamming(&hamming, self.units, self.batch))
    }

    /// The NASWOT score `log|det K|`; `-inf` for a singular `K`.
    pub fn score(&self) -> Result<f64> {
        score_of_k(&self.k()?, self.batch)
    }
}
