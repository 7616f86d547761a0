//! TLS on both sides. Downstream: a rustls server config per listener whose
//! certificate is chosen by SNI (exact name, then wildcard, then the first
//! certificate as default), ALPN `h2` and `http/1.1`. Upstream: a client config
//! with the web PKI roots plus an optional custom CA, or verification disabled
//! when a pool says so.

use std::collections::HashMap;
use std::sync::Arc;

use outpost_config::{CertKey, ConfigError, ListenerTls, UpstreamProtocol, UpstreamTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Picks a certificate by SNI.
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the suffix after `*.` (e.g. `example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(k) = self.wildcard.get(parent)
        {
            return Some(k.clone());
        }
        Some(self.default.clone())
    }
}

/// Builds a listener's server config. Errors carry `path` (the listener's TLS
/// section) so reload and `outpost check` can report them like config errors.
pub fn server_config(tls: &ListenerTls, path: &str) -> Result<Arc<ServerConfig>, Vec<ConfigError>> {
    let provider = provider();
    let mut errors = Vec::new();
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut keys = Vec::new();
    for (i, ck) in tls.certificates.iter().enumerate() {
        match certified_key(ck, &provider) {
            Ok((key, names)) => {
                for n in names {
                    let n = n.to_ascii_lowercase();
                    match n.strip_prefix("*.") {
                        Some(suffix) => wildcard
                            .entry(suffix.to_string())
                            .or_insert_with(|| key.clone()),
                        None => exact.entry(n).or_insert_with(|| key.clone()),
                    };
                }
                keys.push(key);
            }
            Err(m) => errors.push(ConfigError::new(format!("{path}.certificates[{i}]"), m)),
        }
    }
    let Some(default) = keys.first().cloned() else {
        if errors.is_empty() {
            errors.push(ConfigError::new(path, "no usable certificate"));
        }
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let resolver = SniResolver {
        exact,
        wildcard,
        default,
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![ConfigError::new(path, e.to_string())])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Loads a key pair, checks the key matches the certificate, and returns the DNS
/// names the certificate is valid for (its subjectAltName DNS entries).
fn certified_key(
    ck: &CertKey,
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, Vec<String>), String> {
    let signing = provider
        .key_provider
        .load_private_key(ck.key.clone_key())
        .map_err(|e| format!("{}: unusable private key: {e}", ck.key_path.display()))?;
    let key = CertifiedKey::new(ck.chain.clone(), signing);
    key.keys_match().map_err(|e| {
        format!(
            "{} and {} do not belong together: {e}",
            ck.cert_path.display(),
            ck.key_path.display()
        )
    })?;
    let leaf = ck
        .chain
        .first()
        .ok_or_else(|| format!("{}: empty certificate chain", ck.cert_path.display()))?;
    let ee = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("{}: cannot parse certificate: {e}", ck.cert_path.display()))?;
    let names = ee.valid_dns_names().map(str::to_string).collect();
    Ok((Arc::new(key), names))
}

/// Builds the client config used towards a pool's TLS origins.
pub fn client_config(
    tls: &UpstreamTls,
    protocol: UpstreamProtocol,
) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut cfg = if tls.verify {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for ca in tls.ca.iter().flatten() {
            roots
                .add(ca.clone())
                .map_err(|e| format!("custom CA rejected: {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    };
    cfg.alpn_protocols = match protocol {
        UpstreamProtocol::Http1 => vec![b"http/1.1".to_vec()],
        UpstreamProtocol::Http2 => vec![b"h2".to_vec()],
        UpstreamProtocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(Arc::new(cfg))
}

/// Accepts any origin certificate: only for pools with `verify = false`.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
