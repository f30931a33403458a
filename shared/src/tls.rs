//! The trusted roots of the functions' TLS clients (the AWS SDK's and the Graph API's),
//! read from one CA bundle file. rustls' default loader reads the bundle *and* every file
//! of the certificate directory (about 290 on Debian), 4–8 ms of every cold start here
//! against 0.6 ms for the one file with the same roots (issue 16). A leaf module: the
//! `aws` and `provider` layers both use it.

use std::path::{Path, PathBuf};

/// Where systems keep their bundle: Amazon Linux 2023 (Lambda's `provided.al2023`) and
/// Fedora, then Debian and Ubuntu, then Alpine and macOS.
pub const CA_BUNDLES: [&str; 3] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// The bundle to read: `SSL_CERT_FILE` when set (as OpenSSL honours it), else the first
/// of [`CA_BUNDLES`] that exists. None: the clients fall back to their own loaders.
pub fn bundle_path(
    env: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(file) = env("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    CA_BUNDLES.iter().map(PathBuf::from).find(|p| exists(p))
}

/// The bundle's PEM bytes, read by each client that needs them (a read is a fraction of a
/// millisecond; keeping a copy would hold 200 KB for the life of the process).
pub fn ca_bundle() -> Option<Vec<u8>> {
    let path = bundle_path(|n| std::env::var(n).ok(), Path::exists)?;
    std::fs::read(&path)
        .map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "CA bundle not read; using the default roots")
        })
        .ok()
}

/// A `reqwest` client trusting the bundle's roots only (its own default would load the
/// platform's store the slow way); unchanged when there is no bundle.
pub fn roots(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    match ca_bundle().map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Some(Ok(certs)) if !certs.is_empty() => builder.tls_certs_only(certs),
        _ => builder,
    }
}

/// Makes ring the process's rustls provider (what `reqwest`, built without a provider of
/// its own, uses). Idempotent; every constructor of an HTTP client calls it first.
pub fn install_ring_provider() {
    // Err only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_cert_file_wins_then_amazon_linux_s_bundle_then_debian_s() {
        let env = |v: Option<&'static str>| {
            move |n: &str| (n == "SSL_CERT_FILE").then_some(v?.to_owned())
        };
        let all = |_: &Path| true;
        assert_eq!(
            bundle_path(env(Some("/x/roots.pem")), all),
            Some(PathBuf::from("/x/roots.pem"))
        );
        assert_eq!(
            bundle_path(env(None), all),
            Some(PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt"))
        );
        let debian = |p: &Path| p == Path::new("/etc/ssl/certs/ca-certificates.crt");
        assert_eq!(
            bundle_path(env(Some("")), debian),
            Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
        );
        assert_eq!(bundle_path(env(None), |_: &Path| false), None);
    }

    #[test]
    fn this_machine_s_bundle_gives_both_clients_their_roots() {
        install_ring_provider();
        let pem = ca_bundle().expect("a CA bundle on this machine");
        let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("PEM");
        assert!(certs.len() > 50, "{} roots", certs.len());
        reqwest::Client::builder()
            .tls_certs_only(certs)
            .build()
            .expect("a client with those roots");
    }
}
