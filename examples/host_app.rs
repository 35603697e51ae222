//! Embedding the dsr engine in a host application: see `lib.rs` and `shop.rs`.
//!
//! ```text
//! cargo run -p dsr-examples --example host_app
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a working directory: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match rt.block_on(dsr_examples::shop::run(dir.path(), &mut out)) {
        Ok(report) if report.audit_verified => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: the audit chain does not verify");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
