//! `DOCKER_HOST=tcp://` over TLS against a stand-in engine on loopback: a rustls server that
//! demands a client certificate signed by the test's CA and answers `GET /version` as dockerd
//! does. The certificates are made with the `openssl` command, as a docker user makes them.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::Engine;
use crate::error::Error;

fn openssl(dir: &Path, args: &[&str]) {
    let out =
        Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl command (package openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`ca.pem`), a server certificate for 127.0.0.1 and a client certificate (`cert.pem`,
/// `key.pem`) in `dir`, as docker's "protect the daemon socket" guide makes them.
fn certificates(dir: &Path, ca: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend(["-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj"]);
    args.push(ca);
    openssl(dir, &args);
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, cert) = (format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}-cert.pem"));
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=taskflows-test"]);
        openssl(dir, &args);
        let ext = format!("{name}.ext");
        openssl(
            dir,
            &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "1"]
                .into_iter()
                .chain(["-out", &cert, "-extfile", &ext])
                .collect::<Vec<_>>(),
        );
    }
    std::fs::rename(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::rename(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}

/// A stand-in engine on 127.0.0.1 that answers one connection: it requires a client
/// certificate from `dir`'s CA and sends back the request line it got.
async fn engine(dir: &Path) -> (u16, tokio::task::JoinHandle<Option<String>>) {
    #[expect(deprecated, reason = "the workspace's TLS is ring's provider (no aws-lc build)")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_file(dir.join("server-cert.pem")).unwrap()],
            PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.ok()?;
        let mut tls = acceptor.accept(tcp).await.ok()?;
        let mut request = Vec::new();
        let mut buf = [0; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"Version":"28.5.2","ApiVersion":"1.51","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(answer.as_bytes()).await.ok()?;
        tls.shutdown().await.ok()?;
        String::from_utf8_lossy(&request).lines().next().map(str::to_owned)
    });
    (port, served)
}

fn env(vars: Vec<(&'static str, OsString)>) -> impl Fn(&str) -> Option<OsString> {
    move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
}

#[tokio::test]
async fn tcp_with_docker_tls_verify_speaks_tls_with_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), "/CN=taskflows-test-ca");
    let (port, served) = engine(dir.path()).await;
    let host = format!("tcp://127.0.0.1:{port}");
    let vars = env(vec![("DOCKER_TLS_VERIFY", "1".into()), ("DOCKER_CERT_PATH", dir.path().into())]);
    let engine = Engine::connect_with_env(Some(&host), &vars).await.unwrap();
    assert_eq!(engine.host(), host);
    // The engine saw the version request over a TLS connection that showed our certificate.
    let request = served.await.unwrap().expect("the engine got a request");
    assert!(request.starts_with("GET ") && request.contains("/version"), "{request}");
}

#[tokio::test]
async fn an_engine_certificate_from_another_ca_is_refused() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    certificates(ours.path(), "/CN=our-ca");
    certificates(theirs.path(), "/CN=their-ca");
    let (port, served) = engine(theirs.path()).await;
    let host = format!("tcp://127.0.0.1:{port}");
    let vars = env(vec![("DOCKER_TLS_VERIFY", "1".into()), ("DOCKER_CERT_PATH", ours.path().into())]);
    match Engine::connect_with_env(Some(&host), &vars).await {
        Err(Error::Unreachable { host: h, source }) => {
            assert_eq!(h, host);
            let text = format!("{source:?}");
            assert!(text.contains("UnknownIssuer") || text.contains("certificate"), "{text}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("connected to an engine whose certificate our CA did not sign"),
    }
    assert_eq!(served.await.unwrap(), None, "no request reached the engine");
}

#[tokio::test]
async fn a_missing_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vars = env(vec![("DOCKER_TLS_VERIFY", "1".into()), ("DOCKER_CERT_PATH", dir.path().into())]);
    let err = Engine::connect_with_env(Some("tcp://127.0.0.1:9"), &vars).await.unwrap_err();
    assert!(matches!(&err, Error::Io { path, .. } if path == &dir.path().join("ca.pem")), "{err}");
    assert!(err.to_string().contains("DOCKER_CERT_PATH"), "{err}");
}

#[tokio::test]
async fn tcp_without_the_tls_variables_is_still_refused_unless_allowed() {
    let none = env(vec![]);
    assert!(matches!(Engine::connect_with_env(Some("tcp://127.0.0.1:9"), &none).await, Err(Error::Plaintext { .. })));
    // Allowed, it tries clear text (and finds nothing listening on the discard port).
    let allowed = env(vec![("TASKFLOWS_DOCKER_ALLOW_PLAINTEXT", "1".into())]);
    assert!(matches!(
        Engine::connect_with_env(Some("tcp://127.0.0.1:9"), &allowed).await,
        Err(Error::Unreachable { .. })
    ));
}
