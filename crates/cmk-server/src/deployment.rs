//! What every node of one deployment must agree on, recorded in the store by the first node that starts: the
//! DNS suffix, the public URL (which names the token issuer, the audiences and every vault URI) and which
//! root key seals the stored secrets. A node configured differently refuses to start, rather than issue
//! tokens the others refuse or fail to unseal what they wrote.

use cmk_crypto::RootKey;
use cmk_store::{Store, StoreError, Write};
use serde::{Deserialize, Serialize};

use crate::{PublicUrls, ServerError};

const KEY: &str = "system/deployment";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentRecord {
    dns_suffix: String,
    /// Recorded once a node was configured with it; a single development node may move ports until then.
    #[serde(default)]
    public_url: Option<String>,
    /// A MAC of a fixed label under the root key: it tells keys apart and reveals nothing about them.
    root_key_fingerprint: String,
}

fn fingerprint(root_key: &RootKey) -> String {
    root_key.mac("cmk deployment: root key fingerprint", b"")[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks this node's configuration against the deployment's record, writing the record on first start (or
/// the public URL, the first time one is configured). `configured` says whether the public URL was set
/// explicitly rather than derived from the listening port.
pub(crate) async fn check_or_record(
    store: &dyn Store,
    urls: &PublicUrls,
    configured: bool,
    root_key: &RootKey,
) -> Result<(), ServerError> {
    let public_url = urls.authority();
    let ours = DeploymentRecord {
        dns_suffix: urls.dns_suffix.clone(),
        public_url: configured.then(|| public_url.clone()),
        root_key_fingerprint: fingerprint(root_key),
    };
    for _ in 0..3 {
        let Some(entry) = store.get(KEY).await? else {
            match store.commit(vec![Write::create(KEY, encode(&ours)?)]).await {
                Ok(_) => return Ok(()),
                // Another node recorded it at the same moment: check against theirs.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let recorded: DeploymentRecord = serde_json::from_slice(&entry.value)
            .map_err(|_| ServerError::Config(format!("stored record '{KEY}' is corrupt")))?;
        if recorded.root_key_fingerprint != ours.root_key_fingerprint {
            return Err(ServerError::Config(
                "this node's root key is not the one the deployment's secrets are sealed under; \
                 give every node the same root key file"
                    .into(),
            ));
        }
        if recorded.dns_suffix != ours.dns_suffix {
            return Err(ServerError::Config(format!(
                "the deployment's DNS suffix is '{}', this node was given '{}'",
                recorded.dns_suffix, ours.dns_suffix
            )));
        }
        match (&recorded.public_url, &ours.public_url) {
            (Some(theirs), _) if *theirs != public_url => {
                return Err(ServerError::Config(format!(
                    "the deployment's public URL is {theirs}, this node's is {public_url}; \
                     give every node the same --public-url"
                )));
            }
            (None, Some(_)) => {
                let updated = DeploymentRecord {
                    public_url: ours.public_url.clone(),
                    ..recorded
                };
                match store
                    .commit(vec![Write::replace(KEY, encode(&updated)?, entry.revision)])
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => return Ok(()),
        }
    }
    Err(ServerError::Config(
        "the deployment record kept changing while this node started; start it again".into(),
    ))
}

fn encode(record: &DeploymentRecord) -> Result<Vec<u8>, ServerError> {
    serde_json::to_vec(record).map_err(|e| ServerError::Config(format!("encoding the deployment record: {e}")))
}
