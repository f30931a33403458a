//! Opaque page cursors: the last evaluated key, hex-encoded, checked on the way back in.

use super::items::Item;
use crate::ports::{PortError, PortResult};
use aws_sdk_dynamodb::types::AttributeValue;

/// An opaque cursor: the page's last evaluated key (string attributes), hex-encoded JSON.
pub(super) fn key_cursor(key: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    serde_json::to_vec(&map).ok().map(hex::encode)
}

/// Reads a cursor back, accepting only the keys of the index read (`pk`, `sk`, its own
/// key attributes) and only for the partition being read: anything else is not a cursor
/// this API returned.
pub(super) fn key_of_cursor(
    cursor: &str,
    partition_attr: &str,
    partition: &str,
    sort_attr: &str,
) -> PortResult<Item> {
    let invalid = || PortError::new("cursor", "invalid cursor");
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let allowed = ["pk", "sk", partition_attr, sort_attr];
    if map.len() != 4 || map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid());
    }
    if map.get(partition_attr).map(String::as_str) != Some(partition)
        || map.values().any(|v| v.is_empty() || v.len() > 1024)
    {
        return Err(invalid());
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

pub(super) fn encode_cursor(key: &Item, field: &str) -> Option<String> {
    key.get(field)
        .and_then(|v| v.as_s().ok())
        .map(|v| hex::encode(v.as_bytes()))
}

/// Reads a one-key cursor back, if it is a key of the list being read (`valid`): a
/// forged one never reaches DynamoDB (which would refuse it as a bad request).
pub(super) fn decode_cursor(cursor: &str, valid: impl Fn(&str) -> bool) -> PortResult<String> {
    hex::decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|k| !k.is_empty() && k.len() <= 1024 && valid(k))
        .ok_or_else(|| PortError::new("cursor", "invalid cursor"))
}

/// `{16 digits}#{id}`: how conversations sort by when they opened.
pub(super) fn is_opened_key(k: &str) -> bool {
    match k.split_once('#') {
        Some((at, id)) => {
            at.len() == 16
                && at.bytes().all(|b| b.is_ascii_digit())
                && (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        }
        None => false,
    }
}
