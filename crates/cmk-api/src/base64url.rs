//! base64url fields as Key Vault sends them: the url-safe alphabet, no padding. Decoding is strict (no `=`, no
//! `+` or `/`, no stray bits), and a refusal says where the text is wrong without echoing any of it.

use std::fmt;
use std::marker::PhantomData;

use cmk_crypto::SecretBytes;
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

/// Why a text is not strict base64url. Offsets count bytes of the text; no variant carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base64UrlError {
    /// `=` padding: Key Vault writes base64url without it.
    Padding { offset: usize },
    /// `+` or `/`: the standard alphabet, not the url-safe one (`-` and `_`).
    StandardAlphabet { offset: usize },
    /// Any other byte outside `A-Z a-z 0-9 - _`.
    InvalidCharacter { offset: usize },
    /// A length of 4n+1 characters encodes no whole byte.
    Length { len: usize },
    /// The last character carries bits that no encoder would set.
    TrailingBits,
}

impl fmt::Display for Base64UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Padding { offset } => write!(f, "padding '=' at offset {offset}; base64url here is unpadded"),
            Self::StandardAlphabet { offset } => write!(
                f,
                "'+' or '/' at offset {offset} is standard base64; base64url uses '-' and '_'"
            ),
            Self::InvalidCharacter { offset } => write!(f, "the character at offset {offset} is not base64url"),
            Self::Length { len } => write!(f, "{len} characters cannot be base64url"),
            Self::TrailingBits => f.write_str("the last character has bits set past the end of the data"),
        }
    }
}

impl std::error::Error for Base64UrlError {}

/// Decodes strict base64url. The caller owns the result; wrap it at once if it is secret.
pub fn decode_strict(text: &str) -> Result<Vec<u8>, Base64UrlError> {
    for (offset, byte) in text.bytes().enumerate() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            b'=' => return Err(Base64UrlError::Padding { offset }),
            b'+' | b'/' => return Err(Base64UrlError::StandardAlphabet { offset }),
            _ => return Err(Base64UrlError::InvalidCharacter { offset }),
        }
    }
    if text.len() % 4 == 1 {
        return Err(Base64UrlError::Length { len: text.len() });
    }
    // The alphabet and length are right, so the only refusal left is non-canonical trailing bits.
    b64url_decode(text).map_err(|_| Base64UrlError::TrailingBits)
}

/// Public bytes on the wire (an RSA modulus, a curve point, a signature, a digest).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Url(pub Vec<u8>);

impl Base64Url {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Base64Url {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Base64Url {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl fmt::Debug for Base64Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Url({})", b64url_encode(&self.0))
    }
}

impl Serialize for Base64Url {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64url_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Url {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor::<Self>::new(None))
    }
}

/// Secret bytes on the wire (a private JWK part, a data key in the clear): zeroized on drop, redacted in `Debug`,
/// and neither the text nor the bytes are left in a buffer that is not wiped.
#[derive(Clone)]
pub struct SecretBase64Url(SecretBytes);

impl SecretBase64Url {
    pub fn new(secret: SecretBytes) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    pub fn into_secret(self) -> SecretBytes {
        self.0
    }
}

impl From<SecretBytes> for SecretBase64Url {
    fn from(secret: SecretBytes) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for SecretBase64Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBase64Url([redacted; {} bytes])", self.0.len())
    }
}

impl Serialize for SecretBase64Url {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(b64url_encode(self.0.expose()));
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBase64Url {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor::<Self>::new(None))
    }
}

/// The two field types, built from decoded bytes.
pub trait FromBase64Url: Sized {
    fn from_decoded(bytes: Vec<u8>) -> Self;
}

impl FromBase64Url for Base64Url {
    fn from_decoded(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl FromBase64Url for SecretBase64Url {
    fn from_decoded(bytes: Vec<u8>) -> Self {
        Self(SecretBytes::new(bytes))
    }
}

/// The start of every refusal a named field gives, so that [`refusal`] can tell it from other serde errors.
const REFUSAL_PREFIX: &str = "The field '";
const REFUSAL_MIDDLE: &str = "' is not valid base64url: ";

struct TextVisitor<T> {
    field: Option<&'static str>,
    target: PhantomData<T>,
}

impl<T> TextVisitor<T> {
    fn new(field: Option<&'static str>) -> Self {
        Self {
            field,
            target: PhantomData,
        }
    }

    fn refuse<E: de::Error>(&self, why: Base64UrlError) -> E {
        match self.field {
            Some(field) => E::custom(format!("{REFUSAL_PREFIX}{field}{REFUSAL_MIDDLE}{why}.")),
            None => E::custom(format!("invalid base64url: {why}")),
        }
    }
}

impl<T: FromBase64Url> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64url string")
    }

    // Borrowed text (serde_json's usual case) is decoded in place: no copy of it is made.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        decode_strict(text).map(T::from_decoded).map_err(|why| self.refuse(why))
    }

    fn visit_string<E: de::Error>(self, mut text: String) -> Result<T, E> {
        let decoded = self.visit_str(&text);
        text.zeroize();
        decoded
    }
}

/// Deserializes a required base64url field whose refusal names `field`; see [`fields`].
pub fn named<'de, D: Deserializer<'de>, T: FromBase64Url>(deserializer: D, field: &'static str) -> Result<T, D::Error> {
    deserializer.deserialize_str(TextVisitor::new(Some(field)))
}

/// Deserializes an optional base64url field (absent or `null` is `None`) whose refusal names `field`.
pub fn named_optional<'de, D: Deserializer<'de>, T: FromBase64Url>(
    deserializer: D,
    field: &'static str,
) -> Result<Option<T>, D::Error> {
    struct Seed<T>(&'static str, PhantomData<T>);
    impl<'de, T: FromBase64Url> de::DeserializeSeed<'de> for Seed<T> {
        type Value = T;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
            named(deserializer, self.0)
        }
    }
    struct OptionVisitor<T>(&'static str, PhantomData<T>);
    impl<'de, T: FromBase64Url> Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a base64url string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            de::DeserializeSeed::deserialize(Seed(self.0, PhantomData), deserializer).map(Some)
        }
    }
    deserializer.deserialize_option(OptionVisitor(field, PhantomData))
}

/// When a body was refused because one of its named base64url fields was malformed, the refusal
/// (`The field 'value' is not valid base64url: ...`) without serde's position suffix, for a precise 400.
pub fn refusal(error: &serde_json::Error) -> Option<String> {
    if !error.is_data() {
        return None;
    }
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    (message.starts_with(REFUSAL_PREFIX) && message.contains(REFUSAL_MIDDLE)).then(|| message.to_owned())
}

/// `deserialize_with` paths that name their field in a refusal: `fields::value::required`,
/// `fields::d::optional`, and so on, one module per wire field name.
pub mod fields {
    macro_rules! named_fields {
        ($($name:ident),* $(,)?) => {$(
            pub mod $name {
                use serde::Deserializer;

                use crate::base64url::FromBase64Url;

                pub fn required<'de, D: Deserializer<'de>, T: FromBase64Url>(d: D) -> Result<T, D::Error> {
                    crate::base64url::named(d, stringify!($name))
                }

                pub fn optional<'de, D: Deserializer<'de>, T: FromBase64Url>(d: D) -> Result<Option<T>, D::Error> {
                    crate::base64url::named_optional(d, stringify!($name))
                }
            }
        )*};
    }

    named_fields!(n, e, x, y, d, p, q, dp, dq, qi, value, digest, iv, aad, tag);
}
