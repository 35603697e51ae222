//! TLS (rustls) from a cert/key pair, and HIPAA mode starting when its settings pass:
//! driven with `curl` (the test client has no TLS); skipped when `openssl` or `curl` is
//! missing.

use crate::harness::Db;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        || Command::new(tool)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn https_with_rustls_and_hipaa_mode_with_its_settings_passing() {
    if !have("openssl") || !have("curl") {
        eprintln!("skipped: openssl or curl missing");
        return;
    }
    let db = Db::new();
    let dir = db.dir.path();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl made the certificate");
    std::fs::write(
        dir.join("dsr.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"t.db\"\njson_logs = true\nhipaa = true\nidle_timeout_minutes = 10\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsr-server"))
        .args(["--config", "dsr.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = v["fields"]["address"].as_str()
            {
                let _ = tx.send(a.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("HIPAA mode with TLS starts");
    let cert = dir.join("cert.pem").display().to_string();
    let url = format!("https://{addr}");
    let mut ready = false;
    for _ in 0..200 {
        if curl(&["--cacert", &cert, &format!("{url}/readyz")])
            .1
            .contains("ok")
        {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "ready over https");
    // Plain HTTP on the TLS port gets nothing.
    let (plain_ok, _) = curl(&[&format!("http://{addr}/healthz")]);
    assert!(!plain_ok, "no plain HTTP");
    // HIPAA mode refuses static API tokens (no session to time out).
    let (_, body) = curl(&[
        "--cacert",
        &cert,
        "-H",
        &format!("Authorization: Bearer {}", db.acme),
        &format!("{url}/api/v1/services"),
    ]);
    assert!(body.contains("HIPAA"), "{body}");
    // OAuth tokens work.
    let (id, secret) = &db.oauth;
    let (_, tok) = curl(&[
        "--cacert",
        &cert,
        "-d",
        "grant_type=client_credentials",
        "-d",
        &format!("client_id={id}"),
        "-d",
        &format!("client_secret={secret}"),
        &format!("{url}/oauth/token"),
    ]);
    let tok: serde_json::Value = serde_json::from_str(&tok).unwrap();
    let (_, body) = curl(&[
        "--cacert",
        &cert,
        "-H",
        &format!(
            "Authorization: Bearer {}",
            tok["access_token"].as_str().unwrap()
        ),
        &format!("{url}/api/v1/services"),
    ]);
    assert!(body.contains("blindSpots"), "{body}");
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
