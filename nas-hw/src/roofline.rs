//! The roofline model: each op takes `max(2 * FLOPs / peak rate, bytes moved / bandwidth)` (a FLOP
//! here is a multiply-accumulate, so two operations), summed over ops.
//!
//! Device presets, each with its source. They are peak figures: the roofline is a lower bound that
//! ranks architectures, not a latency prediction (fitted tables are, see [`crate::model`]).

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

use crate::footprint::Footprint;

/// Peak compute rate and memory bandwidth of a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: &'static str,
    pub peak_gflops: f64,
    pub bandwidth_gb_s: f64,
    pub source: &'static str,
}

/// The presets: the HW-NAS-Bench devices whose peak figures are published.
pub const DEVICES: [Device; 4] = [
    Device {
        name: "edgegpu",
        peak_gflops: 665.0,
        bandwidth_gb_s: 59.7,
        source: "NVIDIA Jetson TX2 module datasheet: 256 Pascal cores at 1.3 GHz (665 GFLOPS fp32), 128-bit LPDDR4 59.7 GB/s",
    },
    Device {
        name: "raspi4",
        peak_gflops: 48.0,
        bandwidth_gb_s: 12.8,
        source: "Raspberry Pi 4 B (BCM2711): 4 Cortex-A72 at 1.5 GHz x 8 fp32 FLOP/cycle (NEON FMA) = 48 GFLOPS; 32-bit LPDDR4-3200 = 12.8 GB/s",
    },
    Device {
        name: "pixel3",
        peak_gflops: 179.2,
        bandwidth_gb_s: 29.9,
        source: "Snapdragon 845: 4 Kryo 385 Gold at 2.8 GHz x 16 fp32 FLOP/cycle = 179 GFLOPS; 4x16-bit LPDDR4X-1866 = 29.9 GB/s",
    },
    Device {
        name: "edgetpu",
        peak_gflops: 4000.0,
        bandwidth_gb_s: 8.0,
        source: "Coral Edge TPU datasheet: 4 TOPS int8; bandwidth not published, 8 GB/s assumed (on-chip SRAM fed over PCIe/USB 3)",
    },
];

/// The preset called `name`, or an error listing the presets.
pub fn device(name: &str) -> Result<&'static Device> {
    DEVICES.iter().find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<&str> = DEVICES.iter().map(|d| d.name).collect();
        Error::invalid("device", format!("unknown device {name:?}; expected one of {}", names.join(", ")))
    })
}

/// Roofline latency in ms of a network's footprint on `device`.
pub fn latency_ms(f: &Footprint, device: &Device) -> f64 {
    f.ops
        .iter()
        .map(|o| {
            let compute = 2.0 * o.flops as f64 / (device.peak_gflops * 1e9);
            let memory = (o.bytes_read + o.bytes_written) as f64 / (device.bandwidth_gb_s * 1e9);
            compute.max(memory)
        })
        .sum::<f64>()
        * 1e3
}
