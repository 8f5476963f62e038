//! Azure's JSON, typed: the shapes every plane of cmk reads and writes, named exactly as Azure's REST specs
//! spell them, so that no other crate indexes a `serde_json::Value` to find a field.
//!
//! # Layout
//! - [`base64url`]: strict unpadded base64url fields; [`SecretBase64Url`] for the ones that carry key material.
//! - [`keys`]: Key Vault keys (data plane): JWKs, bundles, items, lists, request and result bodies.
//! - [`error`]: the `{"error": {...}}` body of ARM and Key Vault.
//! - [`token`]: the OAuth token answer of the directory.
//! - [`admin`]: the deployment's admin API (cmk's own, not Azure's).
//! - [`arm`]: what every ARM resource and list shares.
//! - [`authorization`]: role definitions, role assignments and permissions.
//! - [`content`]: the account data plane's content answers.
//! - [`resources`]: subscriptions, tenants and resource groups.
//! - [`identity`]: the managed identity endpoints' token answers.
//! - [`vaults`]: the key vault resource of ARM.
//! - [`accounts`]: the account resource of ARM.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod arm;
pub mod authorization;
pub mod base64url;
pub mod content;
pub mod error;
pub mod identity;
pub mod keys;
pub mod resources;
pub mod token;
pub mod vaults;

pub use base64url::{Base64Url, Base64UrlError, SecretBase64Url};
pub use error::{ErrorBody, ErrorResponse, InnerError};
pub use token::{OAuthError, TokenResponse};

#[cfg(test)]
mod tests;
