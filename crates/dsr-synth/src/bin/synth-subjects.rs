//! Writes generated subjects as JSON Lines in the `dsr import` format, to try the CLI at
//! scale: `cargo run --release -p dsr-synth --bin synth-subjects -- --subjects 100000 > s.jsonl`.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| {
                v.parse().unwrap_or_else(|_| {
                    eprintln!("error: {name} takes a whole number, not {v:?}");
                    std::process::exit(2)
                })
            })
    };
    let n = get("--subjects", 10_000);
    let seed = get("--seed", 42);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in dsr_synth::subjects(seed, n) {
        let mut v = serde_json::to_value(&s).expect("a subject serializes");
        if let Some(o) = v.as_object_mut()
            && let Some(kind) = o.remove("kind")
        {
            o.insert("type".into(), kind);
        }
        if writeln!(out, "{v}").is_err() {
            return; // closed pipe
        }
    }
}
