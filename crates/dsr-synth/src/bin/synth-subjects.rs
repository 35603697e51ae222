//! Writes generated subjects as JSON Lines in the `dsr import` format, to try the CLI at
//! scale: `cargo run --release -p dsr-synth --bin synth-subjects -- --subjects 100000 > s.jsonl`.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Write deterministic multilingual synthetic subjects (users, external contacts,
/// dialer contacts, merge sets) as JSON Lines in the `dsr import` format, on standard
/// output.
#[derive(Debug, Parser)]
#[command(name = "synth-subjects", version, about)]
struct Args {
    /// How many subjects.
    #[arg(long, default_value_t = 10_000)]
    subjects: u64,
    /// Seed of the generator: the same seed gives the same subjects.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = (|| -> std::io::Result<()> {
        for s in dsr_synth::subjects(args.seed, args.subjects) {
            let mut v = serde_json::to_value(&s).map_err(std::io::Error::other)?;
            if let Some(o) = v.as_object_mut()
                && let Some(kind) = o.remove("kind")
            {
                o.insert("type".into(), kind);
            }
            writeln!(out, "{v}")?;
        }
        out.flush()
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: writing the subjects: {e}");
            ExitCode::from(2)
        }
    }
}
