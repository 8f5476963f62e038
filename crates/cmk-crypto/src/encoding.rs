//! base64url, the binary encoding of JOSE and of every Key Vault wire field.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Encodes without padding, as Azure does; decodes with or without padding, as Azure accepts.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    BASE64URL.encode(bytes)
}

/// Decodes base64url; the error says what is wrong without echoing the input.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, InvalidBase64Url> {
    BASE64URL.decode(text).map_err(|e| InvalidBase64Url(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64url: {0}")]
pub struct InvalidBase64Url(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_without_padding() {
        assert_eq!(b64url_encode([0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(b64url_decode("-_8=").ok(), Some(vec![0xfb, 0xff]));
    }

    #[test]
    fn standard_alphabet_is_refused() {
        assert!(b64url_decode("+/8").is_err());
    }
}
