//! Which engine runs a model in this browser: WebGPU or the CPU (int8 WebAssembly SIMD
//! kernels). A software adapter (SwiftShader, WARP, llvmpipe) loses to the CPU, a real GPU wins;
//! rather than match adapter names, the page times one layer of the model's shape on each and
//! picks the faster. The user can force either.

use std::fmt;

/// An engine the page can run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// WebGPU (burn on wgpu plus our WGSL kernels).
    Gpu,
    /// The CPU: int8 products in WebAssembly SIMD.
    Cpu,
}

impl EngineKind {
    /// The name results and the UI use (`"gpu"`, `"cpu"`).
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Gpu => "gpu",
            EngineKind::Cpu => "cpu",
        }
    }
}

/// What the user asked for (Models panel, or `options.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// Measure, pick the faster.
    #[default]
    Auto,
    /// Always WebGPU.
    Gpu,
    /// Always the CPU.
    Cpu,
}

impl Preference {
    /// Parses `"auto"`, `"gpu"` or `"cpu"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Preference::Auto),
            "gpu" => Ok(Preference::Gpu),
            "cpu" => Ok(Preference::Cpu),
            other => Err(format!(
                "engine {other:?} is not one of \"auto\", \"gpu\", \"cpu\""
            )),
        }
    }

    /// The inverse of [`Preference::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Preference::Auto => "auto",
            Preference::Gpu => "gpu",
            Preference::Cpu => "cpu",
        }
    }
}

/// A few layers of the model's shape, timed on each engine (milliseconds per decode step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Layers in the timed step.
    pub layers: usize,
    /// On the CPU kernels.
    pub cpu_ms: f64,
    /// On WebGPU.
    pub gpu_ms: f64,
}

/// The engine picked and why, in words for the Models panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The engine.
    pub engine: EngineKind,
    /// Why, in a sentence.
    pub reason: String,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Whether `decide` needs a probe for this preference and adapter.
pub fn needs_probe(preference: Preference, has_adapter: bool) -> bool {
    preference == Preference::Auto && has_adapter
}

/// Picks the engine. `adapter` is the WebGPU adapter's description, `None` where the browser
/// offers none; `probe` the measurement where [`needs_probe`] asked for one.
pub fn decide(preference: Preference, adapter: Option<&str>, probe: Option<Probe>) -> Decision {
    let cpu = |reason: String| Decision {
        engine: EngineKind::Cpu,
        reason,
    };
    let gpu = |reason: String| Decision {
        engine: EngineKind::Gpu,
        reason,
    };
    match (preference, adapter, probe) {
        (Preference::Cpu, _, _) => cpu("CPU chosen in the Models panel".into()),
        (Preference::Gpu, Some(a), _) => gpu(format!("WebGPU ({a}) chosen in the Models panel")),
        (Preference::Gpu, None, _) => {
            cpu("WebGPU was chosen, but this browser offers no WebGPU adapter".into())
        }
        (Preference::Auto, None, _) => cpu("this browser offers no WebGPU adapter".into()),
        (Preference::Auto, Some(a), None) => gpu(format!("WebGPU ({a}); not measured")),
        (Preference::Auto, Some(a), Some(p)) => {
            let timing = format!(
                "{} layers of this model's shape took {:.2} ms on the CPU and {:.2} ms on WebGPU ({a})",
                p.layers, p.cpu_ms, p.gpu_ms
            );
            if p.gpu_ms < p.cpu_ms {
                gpu(format!("WebGPU is faster here: {timing}"))
            } else {
                cpu(format!("the CPU is faster here: {timing}"))
            }
        }
    }
}

/// The CPU engine keeps the whole file in the page's one wasm32 memory (`room` bytes): a
/// larger file goes to WebGPU where there is an adapter, or is refused in words — never a
/// failed allocation in the middle of the download.
pub fn fit_in_page(
    decision: Decision,
    file_bytes: u64,
    room: u64,
    has_adapter: bool,
) -> Result<Decision, String> {
    if decision.engine == EngineKind::Gpu || file_bytes <= room {
        return Ok(decision);
    }
    let size = airlock_inference::fit::bytes(file_bytes);
    let room = airlock_inference::fit::bytes(room);
    let why =
        format!("the model ({size}) is larger than the page can hold for the CPU engine ({room})");
    if has_adapter {
        return Ok(Decision {
            engine: EngineKind::Gpu,
            reason: why,
        });
    }
    Err(format!("{why}, and this browser offers no WebGPU adapter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_engine_wins_when_automatic() {
        let slow_gpu = Probe {
            layers: 4,
            cpu_ms: 1.5,
            gpu_ms: 9.0,
        };
        let fast_gpu = Probe {
            layers: 4,
            cpu_ms: 1.5,
            gpu_ms: 0.2,
        };
        let swiftshader = Some("google/swiftshader");
        let d = decide(Preference::Auto, swiftshader, Some(slow_gpu));
        assert_eq!(d.engine, EngineKind::Cpu);
        assert!(d.reason.contains("4 layers of this model's shape took 1.50 ms on the CPU and 9.00 ms on WebGPU (google/swiftshader)"));
        assert_eq!(
            decide(Preference::Auto, Some("nvidia/ada"), Some(fast_gpu)).engine,
            EngineKind::Gpu
        );
    }

    #[test]
    fn the_user_overrides_the_measurement_and_no_adapter_means_the_cpu() {
        let fast_gpu = Probe {
            layers: 4,
            cpu_ms: 1.5,
            gpu_ms: 0.2,
        };
        let d = decide(Preference::Cpu, Some("nvidia/ada"), Some(fast_gpu));
        assert_eq!(d.engine, EngineKind::Cpu);
        assert!(d.reason.contains("chosen"));
        let slow_gpu = Probe {
            layers: 4,
            cpu_ms: 1.0,
            gpu_ms: 5.0,
        };
        assert_eq!(
            decide(Preference::Gpu, Some("google/swiftshader"), Some(slow_gpu)).engine,
            EngineKind::Gpu
        );
        let none = decide(Preference::Gpu, None, None);
        assert_eq!(none.engine, EngineKind::Cpu);
        assert!(none.reason.contains("no WebGPU adapter"));
        assert_eq!(decide(Preference::Auto, None, None).engine, EngineKind::Cpu);
    }

    #[test]
    fn only_an_automatic_choice_with_an_adapter_is_measured() {
        assert!(needs_probe(Preference::Auto, true));
        assert!(!needs_probe(Preference::Auto, false));
        assert!(!needs_probe(Preference::Cpu, true));
        assert!(!needs_probe(Preference::Gpu, true));
    }

    #[test]
    fn a_model_too_large_for_the_page_goes_to_webgpu_or_is_refused_in_words() {
        let cpu = decide(Preference::Cpu, Some("google/swiftshader"), None);
        let room = 3840 << 20;
        assert_eq!(
            fit_in_page(cpu.clone(), 500 << 20, room, true),
            Ok(cpu.clone())
        );
        let moved = fit_in_page(cpu.clone(), 4400 << 20, room, true).unwrap();
        assert_eq!(moved.engine, EngineKind::Gpu);
        assert!(
            moved.reason.contains("larger than the page can hold"),
            "{}",
            moved.reason
        );
        let refused = fit_in_page(cpu, 4400 << 20, room, false).unwrap_err();
        assert!(refused.contains("no WebGPU adapter"), "{refused}");
        let gpu = decide(Preference::Gpu, Some("nvidia/ada"), None);
        assert_eq!(fit_in_page(gpu.clone(), 4400 << 20, room, true), Ok(gpu));
    }

    #[test]
    fn preferences_parse_their_names_and_refuse_others_clearly() {
        for p in [Preference::Auto, Preference::Gpu, Preference::Cpu] {
            assert_eq!(Preference::parse(p.name()), Ok(p));
        }
        assert!(Preference::parse("tpu").unwrap_err().contains("\"tpu\""));
    }
}
