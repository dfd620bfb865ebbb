//! Build a NAS-Bench-201 network in Rust, export it as ONNX, and run it on ONNX Runtime.
//!
//! Run: `cargo run --release --example build_and_run -- [OUT.onnx] [ARCH]`
//! (ARCH defaults to the all-`nor_conv_3x3` cell; OUT defaults to `nb201.onnx` in the temp folder).

use intrain::init::Init;
use intrain::ir::cost::{graph_cost, parameter_count};
use intrain::nets::nb201::{DENSE, Nb201Options, build};
use intrain::runtime::{Runtime, RuntimeOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nb201.onnx"));
    let cell = match args.next() {
        Some(arch) => arch,
        None => DENSE.to_string(),
    };
    let opts = Nb201Options { batch: 8, resolution: 32, ..Default::default() };
    let graph = build(&cell, &opts)?;
    let cost = graph_cost(&graph);
    println!(
        "{} nodes, {} parameters, {:.2} M MACs, {:.2} M FLOPs",
        graph.nodes().len(),
        parameter_count(&graph),
        cost.macs as f64 / 1e6,
        cost.flops as f64 / 1e6
    );
    intrain::onnx::save(&graph, &out)?;
    println!("wrote {}", out.display());

    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let mut session = runtime.session(&intrain::onnx::to_bytes(&graph))?;
    let x = Init::new(0).normal_tensor(&[opts.batch, 3, opts.resolution, opts.resolution], 1.0);
    let outputs = session.run(&[("x", &x)])?;
    let logits = &outputs["logits"];
    println!("logits {:?}, first row {:?}", logits.shape, &logits.to_f32()[..opts.classes]);
    Ok(())
}
