//! The public names of every plane, derived from the DNS suffix and the port clients connect to.

use cmk_directory::{Audience, Plane};

#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// e.g. `localhost`
    pub dns_suffix: String,
    pub port: u16,
}

impl PublicUrls {
    /// The names of a deployment from its one public URL, `https://{suffix}[:{port}][/]`: the host is the DNS
    /// suffix every plane's host ends with, and the port the one clients connect to (443 when absent).
    pub fn from_public_url(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("the public URL '{text}' {why}; it takes the form https://<dns suffix>[:port]");
        let rest = text
            .strip_prefix("https://")
            .ok_or_else(|| bad("does not start with https://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(bad("has more than a host and a port"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("has an invalid port"))?,
            ),
            None => (authority, 443),
        };
        Ok(Self {
            dns_suffix: host.to_ascii_lowercase(),
            port,
        })
    }

    fn host_port(&self, host: &str) -> String {
        if self.port == 443 {
            host.to_owned()
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The directory authority, e.g. `https://localhost:8443`.
    pub fn authority(&self) -> String {
        format!("https://{}", self.host_port(&self.dns_suffix))
    }

    /// The ARM endpoint, e.g. `https://localhost:8443/`.
    pub fn management_endpoint(&self) -> String {
        format!("{}/", self.authority())
    }

    /// The resource identifier (token audience) of the management plane: the endpoint itself.
    pub fn management_resource(&self) -> String {
        self.management_endpoint()
    }

    /// The resource identifier of the vault data plane; vaults live at `{vault}.vault.{suffix}`, so the SDKs'
    /// check that a vault host ends with `.` + this host passes.
    pub fn vault_resource(&self) -> String {
        format!("https://{}", self.host_port(&format!("vault.{}", self.dns_suffix)))
    }

    /// The resource identifier of the account data plane.
    pub fn cognitive_services_resource(&self) -> String {
        format!(
            "https://{}",
            self.host_port(&format!("cognitiveservices.{}", self.dns_suffix))
        )
    }

    /// The URI of a vault's data plane, e.g. `https://kv1.vault.localhost:8443/`.
    pub fn vault_uri(&self, vault: &str) -> String {
        format!(
            "https://{}/",
            self.host_port(&format!("{}.vault.{}", vault.to_ascii_lowercase(), self.dns_suffix))
        )
    }

    /// An account's endpoint, e.g. `https://contoso.cognitiveservices.localhost:8443/`.
    pub fn account_endpoint(&self, subdomain: &str) -> String {
        format!(
            "https://{}/",
            self.host_port(&format!("{subdomain}.cognitiveservices.{}", self.dns_suffix))
        )
    }

    /// The suffix of vault host names, in the form az's `suffix_keyvault_dns` takes.
    pub fn vault_dns_suffix(&self) -> String {
        format!(".vault.{}", self.dns_suffix)
    }

    pub fn audiences(&self) -> Vec<Audience> {
        vec![
            Audience {
                plane: Plane::Management,
                resource_id: self.management_resource(),
            },
            Audience {
                plane: Plane::Vault,
                resource_id: self.vault_resource(),
            },
            Audience {
                plane: Plane::CognitiveServices,
                resource_id: self.cognitive_services_resource(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_suffix_and_port() {
        let urls = PublicUrls {
            dns_suffix: "localhost".into(),
            port: 8443,
        };
        assert_eq!(urls.authority(), "https://localhost:8443");
        assert_eq!(urls.management_resource(), "https://localhost:8443/");
        assert_eq!(urls.vault_resource(), "https://vault.localhost:8443");
        assert_eq!(
            urls.cognitive_services_resource(),
            "https://cognitiveservices.localhost:8443"
        );
        let standard = PublicUrls {
            dns_suffix: "cmk.example".into(),
            port: 443,
        };
        assert_eq!(standard.authority(), "https://cmk.example");
    }

    #[test]
    fn a_public_url_gives_the_suffix_and_port() {
        let urls = PublicUrls::from_public_url("https://CMK.example:9443/");
        assert_eq!(
            urls.as_ref().map(|u| (u.dns_suffix.as_str(), u.port)),
            Ok(("cmk.example", 9443))
        );
        assert_eq!(urls.map(|u| u.authority()), Ok("https://cmk.example:9443".to_owned()));
        assert_eq!(
            PublicUrls::from_public_url("https://cmk.example").map(|u| u.port),
            Ok(443)
        );
        for bad in [
            "http://cmk.example",
            "https://",
            "https://cmk.example:0",
            "https://cmk.example/path",
            "https://a:b",
        ] {
            assert!(PublicUrls::from_public_url(bad).is_err(), "{bad}");
        }
    }
}
