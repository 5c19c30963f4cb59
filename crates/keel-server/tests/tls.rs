//! TLS over real sockets: RESP over TLS with redis-cli beside plain RESP, HTTPS with a rustls client
//! beside plain HTTP, and mutual TLS refusing clients without a certificate from the configured CA.

mod common;
use common::{run, TestDir, TestServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server with a self-signed pair in `dir`, serving TLS on its own ports beside the plain ones.
fn tls_server(dir: &Path, mutual: bool) -> (TestServer, u16, u16) {
    let (cert, key) = keel_server::tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let (tls_port, tls_http_port) = (free_port(), free_port());
    let dir = dir.to_path_buf();
    let server = TestServer::with(move |s| {
        s.tls_cert_file = dir.join("cert.pem").display().to_string();
        s.tls_key_file = dir.join("key.pem").display().to_string();
        if mutual {
            s.tls_ca_cert_file = dir.join("cert.pem").display().to_string();
        }
        s.tls_port = tls_port as u64;
        s.tls_http_port = tls_http_port as u64;
        s.admin_token = "admin-secret".into();
    });
    (server, tls_port, tls_http_port)
}

fn redis_cli(port: u16, dir: &Path, client_cert: bool, args: &[&str]) -> Option<(bool, String)> {
    let binary = common::which("redis-cli")?;
    let mut command = std::process::Command::new(binary);
    command.args(["-p", &port.to_string(), "--tls", "--cacert"]).arg(dir.join("cert.pem"));
    if client_cert {
        command.arg("--cert").arg(dir.join("cert.pem")).arg("--key").arg(dir.join("key.pem"));
    }
    let output = command.args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    Some((output.status.success() && !text.contains("Error"), text.trim().to_string()))
}

#[test]
fn resp_over_tls_beside_plain_resp() {
    let dir = TestDir::new();
    let (server, tls_port, _) = tls_server(&dir.0, false);
    let Some((ok, out)) = redis_cli(tls_port, &dir.0, false, &["SET", "secure", "yes"]) else {
        common::skip_without("redis-cli is not installed (CI installs it)");
        return;
    };
    assert!(ok && out == "OK", "{out}");
    let mut plain = server.client();
    assert_eq!(run::<String>(&mut plain, &["GET", "secure"]), "yes");
    // A client speaking plain RESP to the TLS port gets nothing served.
    let mut wrong = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    wrong.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    wrong.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = wrong.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"+PONG"));
}

#[test]
fn the_redis_crate_connects_with_a_rediss_url() {
    let dir = TestDir::new();
    let (_server, tls_port, _) = tls_server(&dir.0, false);
    let certificates =
        redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(dir.0.join("cert.pem")).unwrap()) };
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    let client = redis::Client::build_with_tls(url, certificates).unwrap();
    let mut con = client.get_connection().unwrap();
    run::<()>(&mut con, &["SET", "over", "tls"]);
    assert_eq!(run::<String>(&mut con, &["GET", "over"]), "tls");
}

/// Runs a client's smoke script against the TLS port; it must print "ok".
fn client_over_tls(mut command: std::process::Command) {
    let dir = TestDir::new();
    let (_server, tls_port, _) = tls_server(&dir.0, false);
    let output = command
        .env("KEEL_REDISS_URL", format!("rediss://127.0.0.1:{tls_port}/"))
        .env("KEEL_CA", dir.0.join("cert.pem"))
        .output()
        .unwrap();
    common::assert_printed_ok(&output);
}

fn target(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").join(dir)
}

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

#[test]
fn ioredis_connects_over_tls() {
    let npm = target("npm");
    if !npm.join("node_modules/ioredis").exists() {
        common::skip_without(&format!("ioredis is missing (.ci/run installs it with bullmq into {})", npm.display()));
        return;
    }
    let mut node = std::process::Command::new("node");
    node.args(["--input-type=module"]).current_dir(&npm).stdin(std::fs::File::open(script("ioredis-tls.mjs")).unwrap());
    client_over_tls(node);
}

#[test]
fn redis_py_connects_over_tls() {
    let pypi = target("pypi");
    if !pypi.join("redis").exists() {
        common::skip_without(&format!("redis-py is missing (.ci/run installs it into {})", pypi.display()));
        return;
    }
    let mut python = std::process::Command::new("python3");
    python.arg(script("redis_py_tls.py")).env("PYTHONPATH", &pypi).env("PYTHONDONTWRITEBYTECODE", "1");
    client_over_tls(python);
}

#[test]
fn https_beside_plain_http() {
    let dir = TestDir::new();
    let (server, _, tls_http_port) = tls_server(&dir.0, false);
    let mut roots = rustls::RootCertStore::empty();
    let cert = std::fs::read(dir.0.join("cert.pem")).unwrap();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&cert) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", tls_http_port)).unwrap();
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");
    let (status, _) = common::http(server.http_addr, "GET", "/health");
    assert_eq!(status, 200);
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let dir = TestDir::new();
    let (_server, tls_port, _) = tls_server(&dir.0, true);
    let Some((ok, out)) = redis_cli(tls_port, &dir.0, false, &["PING"]) else { return };
    assert!(!ok, "a client without a certificate was served: {out}");
    let (ok, out) = redis_cli(tls_port, &dir.0, true, &["PING"]).unwrap();
    assert!(ok && out == "PONG", "{out}");
}

#[test]
fn a_databases_rest_url_names_https_when_https_is_served() {
    let dir = TestDir::new();
    let (server, _, tls_http_port) = tls_server(&dir.0, false);
    let created = common::create_database(&server, "admin-secret", r#"{"name": "secure"}"#);
    let rest_url = created["rest_url"].as_str().unwrap();
    assert!(rest_url.starts_with("https://") && rest_url.ends_with(&format!(":{tls_http_port}")), "{rest_url}");
}

/// `key_pem` (a PKCS#8 PEM key) encrypted with `password` as OpenSSL's `genpkey -aes256` writes it (PBES2:
/// PBKDF2-SHA256, AES-256-CBC).
fn encrypted(key_pem: &str, password: &str) -> String {
    let (_, document) = pkcs8::SecretDocument::from_pem(key_pem).unwrap();
    let key = pkcs8::PrivateKeyInfo::try_from(document.as_bytes()).unwrap();
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"keel-salt", b"0123456789abcdef");
    let sealed = key.encrypt_with_params(params.unwrap(), password).unwrap();
    sealed.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).unwrap().to_string()
}

/// A PING over TLS to `port`, trusting only the certificate `ca` (PEM).
fn ping_trusting(port: u16, ca: &[u8]) -> redis::RedisResult<String> {
    let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(ca.to_vec()) };
    let client = redis::Client::build_with_tls(format!("rediss://127.0.0.1:{port}/"), certificates)?;
    redis::cmd("PING").query(&mut client.get_connection()?)
}

/// A key encrypted as PKCS#8 is read with tls-key-file-pass; CONFIG SET of the TLS files reads them again,
/// so that a certificate rotated in place serves new connections; files that cannot be used leave TLS as
/// it was, with Redis's error.
#[test]
fn an_encrypted_key_and_a_certificate_rotated_by_config_set() {
    let dir = TestDir::new();
    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    let (first_cert, first_key) = keel_server::tls::self_signed(&hosts).unwrap();
    let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert_path, &first_cert).unwrap();
    std::fs::write(&key_path, encrypted(&first_key, "key-password")).unwrap();
    let tls_port = free_port();
    let (cert_file, key_file) = (cert_path.display().to_string(), key_path.display().to_string());
    let (cert_setting, key_setting) = (cert_file.clone(), key_file.clone());
    let server = TestServer::with(move |s| {
        s.tls_cert_file = cert_setting;
        s.tls_key_file = key_setting;
        s.tls_key_file_pass = "key-password".into();
        s.tls_port = tls_port as u64;
    });
    assert_eq!(ping_trusting(tls_port, first_cert.as_bytes()).unwrap(), "PONG");

    let (second_cert, second_key) = keel_server::tls::self_signed(&hosts).unwrap();
    std::fs::write(&cert_path, &second_cert).unwrap();
    std::fs::write(&key_path, &second_key).unwrap();
    let mut admin = server.client();
    let refused = common::error_of(&mut admin, &["CONFIG", "SET", "tls-key-file", "/nonexistent/key.pem"]);
    let expected =
        "ERR CONFIG SET failed (possibly related to argument 'tls-key-file') - Unable to update TLS configuration";
    assert!(refused.starts_with(expected), "{refused}");
    assert_eq!(ping_trusting(tls_port, first_cert.as_bytes()).unwrap(), "PONG", "TLS stays as it was");

    run::<()>(
        &mut admin,
        &["CONFIG", "SET", "tls-cert-file", &cert_file, "tls-key-file", &key_file, "tls-key-file-pass", ""],
    );
    assert!(ping_trusting(tls_port, first_cert.as_bytes()).is_err(), "the old certificate is still served");
    assert_eq!(ping_trusting(tls_port, second_cert.as_bytes()).unwrap(), "PONG");

    std::fs::write(&key_path, encrypted(&second_key, "right-password")).unwrap();
    let refused = common::error_of(&mut admin, &["CONFIG", "SET", "tls-key-file-pass", "wrong-password"]);
    assert!(refused.contains("cannot decrypt the private key"), "{refused}");
    assert_eq!(run::<Vec<String>>(&mut admin, &["CONFIG", "GET", "tls-key-file-pass"]), ["tls-key-file-pass", ""]);
    run::<()>(&mut admin, &["CONFIG", "SET", "tls-key-file-pass", "right-password"]);
    assert_eq!(ping_trusting(tls_port, second_cert.as_bytes()).unwrap(), "PONG");
}

#[test]
fn a_tls_connection_moves_to_its_database_s_home_with_its_session() {
    let dir = TestDir::new();
    let (server, tls_port, _) = tls_server(&dir.0, false);
    let db = common::create_database(&server, "admin-secret", r#"{"name":"secure"}"#);
    let password = db["password"].as_str().unwrap();
    // redis-cli logs in first (-a), then sends the command over the same TLS session, now on the home.
    let Some((ok, info)) = redis_cli(tls_port, &dir.0, false, &["--no-auth-warning", "-a", password, "CLIENT", "INFO"])
    else {
        common::skip_without("redis-cli is not installed (CI installs it)");
        return;
    };
    assert!(ok && info.contains(" io-thread=1"), "{info}");
    let set = redis_cli(tls_port, &dir.0, false, &["--no-auth-warning", "-a", password, "SET", "k", "moved"]);
    assert_eq!(set, Some((true, "OK".to_string())));
    let get = redis_cli(tls_port, &dir.0, false, &["--no-auth-warning", "-a", password, "GET", "k"]);
    assert_eq!(get, Some((true, "moved".to_string())));
}
