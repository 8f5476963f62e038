//! TLS for every plane. A development deployment makes its own certificate authority on first start (its key
//! sealed under the root key) and a fresh server certificate on every start, whose names cover the main host,
//! the loopback addresses and the wildcard hosts of vaults and accounts under the DNS suffix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cmk_crypto::RootKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::ServerError;

const CA_SEAL_PURPOSE: &str = "cmk/tls/dev-ca-key";
const CA_COMMON_NAME: &str = "cmk development CA";

/// The files of the development CA inside the data folder.
pub struct DevCa {
    pub cert_file: PathBuf,
    key: KeyPair,
    cert_pem: String,
}

fn tls_error(context: &str, error: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{context}: {error}"))
}

fn ca_params() -> Result<CertificateParams, ServerError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error("CA parameters", e))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    name.push(DnType::OrganizationName, "cmk");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(params)
}

impl DevCa {
    /// Loads the CA from `dir`, or creates it there.
    pub fn load_or_create(dir: &Path, root_key: &RootKey) -> Result<Self, ServerError> {
        std::fs::create_dir_all(dir).map_err(|e| tls_error("creating the TLS folder", e))?;
        let cert_file = dir.join("ca.pem");
        let key_file = dir.join("ca-key.sealed");
        if cert_file.exists() && key_file.exists() {
            let sealed = std::fs::read(&key_file).map_err(|e| tls_error("reading the CA key", e))?;
            let pkcs8 = root_key
                .unseal(CA_SEAL_PURPOSE, &sealed)
                .map_err(|e| tls_error("unsealing the CA key", e))?;
            let key = KeyPair::try_from(pkcs8.expose()).map_err(|e| tls_error("parsing the CA key", e))?;
            let cert_pem =
                std::fs::read_to_string(&cert_file).map_err(|e| tls_error("reading the CA certificate", e))?;
            return Ok(Self {
                cert_file,
                key,
                cert_pem,
            });
        }
        let key = KeyPair::generate().map_err(|e| tls_error("generating the CA key", e))?;
        let cert = ca_params()?
            .self_signed(&key)
            .map_err(|e| tls_error("signing the CA certificate", e))?;
        let sealed = root_key
            .seal(CA_SEAL_PURPOSE, key.serialized_der())
            .map_err(|e| tls_error("sealing the CA key", e))?;
        crate::files::write_private(&key_file, &sealed)?;
        let cert_pem = cert.pem();
        std::fs::write(&cert_file, &cert_pem).map_err(|e| tls_error("writing the CA certificate", e))?;
        Ok(Self {
            cert_file,
            key,
            cert_pem,
        })
    }

    /// Issues a server certificate for `dns_suffix` (and its vault and account wildcards) and loopback.
    pub fn issue_server_config(&self, dns_suffix: &str) -> Result<Arc<rustls::ServerConfig>, ServerError> {
        let mut names = vec![
            "localhost".to_owned(),
            dns_suffix.to_owned(),
            format!("*.{dns_suffix}"),
            format!("*.vault.{dns_suffix}"),
            format!("*.cognitiveservices.{dns_suffix}"),
        ];
        names.dedup();
        let mut params = CertificateParams::new(names).map_err(|e| tls_error("server certificate names", e))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, dns_suffix);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        // Valid for a year from issue; a new one is made at every start.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);

        let server_key = KeyPair::generate().map_err(|e| tls_error("generating the server key", e))?;
        let issuer = Issuer::new(ca_params()?, &self.key);
        let cert = params
            .signed_by(&server_key, &issuer)
            .map_err(|e| tls_error("signing the server certificate", e))?;
        let ca_der = pem_to_der(&self.cert_pem)?;
        let chain = vec![cert.der().clone(), ca_der];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        server_config(chain, key)
    }
}

fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>, ServerError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| tls_error("parsing the CA certificate", e))
}

/// A server configuration from PEM files (production deployments bring their own certificate).
pub fn config_from_files(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| tls_error("reading the certificate file", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error("parsing the certificate file", e))?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| tls_error("reading the key file", e))?;
    server_config(chain, key)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("TLS certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
