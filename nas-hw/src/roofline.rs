//! The roofline model: each op takes `max(2 * FLOPs / peak rate, bytes moved / bandwidth)` (a FLOP
//! here is a multiply-accumulate, so two operations), summed over ops.
//!
//! Device presets, each with its source. They are peak figures: the roofline is a lower bound that
//! ranks architectures, not a latency prediction (fitted tables are, see [`crate::model`]).

use serde::{Deserialize, Serialize};

use nas_core::{CostModel, Error, Network, Result};

use crate::footprint::{Footprint, footprint};

/// Peak compute rate and memory bandwidth of a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The preset's name, as `--device` takes it.
    pub name: &'static str,
    /// Peak compute rate, GFLOP/s (fp32, or int8 ops for the Edge TPU).
    pub peak_gflops: f64,
    /// Peak memory bandwidth, GB/s.
    pub bandwidth_gb_s: f64,
    /// Where the figures come from.
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

/// The roofline latency of a network on the device, in ms.
impl CostModel for Device {
    fn name(&self) -> &str {
        self.name
    }

    fn unit(&self) -> &str {
        "ms"
    }

    fn cost(&self, network: &Network) -> Result<f64> {
        Ok(latency_ms(&footprint(network), self))
    }
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

#[cfg(test)]
mod tests {
    use nas_core::{CostModel, SearchSpace};

    use super::*;

    #[test]
    fn a_device_is_a_cost_model_of_the_ir() {
        let space = nas_spaces::Nb201Space::default();
        let big = space.to_network(&space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|").unwrap()).unwrap();
        let small = space
            .to_network(
                &space.parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|").unwrap(),
            )
            .unwrap();
        for d in &DEVICES {
            let model: &dyn CostModel = d;
            assert_eq!((model.name(), model.unit()), (d.name, "ms"));
            let (b, s) = (model.cost(&big).unwrap(), model.cost(&small).unwrap());
            assert_eq!(b, latency_ms(&footprint(&big), d));
            assert!(b > s && s > 0.0, "{}: {b} vs {s}", d.name);
        }
        assert!(device("tpu9").unwrap_err().to_string().contains("tpu9"));
    }
}
