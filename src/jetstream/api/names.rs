//! Names of JetStream assets: streams, consumers and durables.
//!
//! A name becomes a subject token (`$JS.API.STREAM.INFO.<name>`) and a directory on disk,
//! so nats-server (`isValidAssetName`, `JSMaxNameLen`) refuses the subject wildcards and
//! separator, whitespace, and path separators, and caps the length at 255 bytes.

use super::errors::JsError;

/// Longest stream, consumer or durable name, in bytes (nats-server `JSMaxNameLen`).
pub const NAME_LEN_MAX: usize = 255;
/// Longest stream or consumer description, in bytes (`JSMaxDescriptionLen`).
pub const DESCRIPTION_LEN_MAX: usize = 4 * 1024;
/// Largest metadata map, counting the bytes of every key and value (`JSMaxMetadataLen`).
pub const METADATA_LEN_MAX: usize = 128 * 1024;

/// The bytes nats-server refuses in an asset name (whitespace as in Go's `" \t\r\n\f"`).
fn is_forbidden_name_byte(byte: u8) -> bool {
    matches!(
        byte,
        b' ' | b'\t' | b'\r' | b'\n' | 0x0c | b'.' | b'*' | b'>' | b'\\' | b'/'
    )
}

/// nats-server's `isValidAssetName`: non-empty, none of whitespace, `.`, `*`, `>`, `\`, `/`.
/// Length is checked separately because it has its own error.
pub fn is_valid_asset_name(name: &str) -> bool {
    !name.is_empty() && !name.bytes().any(is_forbidden_name_byte)
}

/// True when the name has `\` or `/`; the API refuses these in subject tokens before
/// anything else (10128 for streams, 10127 for consumers).
pub fn has_path_separators(name: &str) -> bool {
    name.bytes().any(|byte| byte == b'\\' || byte == b'/')
}

/// A stream name in a create/update config, as `checkStreamCfg` judges it (10052).
pub fn check_stream_name(name: &str) -> Result<(), JsError> {
    if !is_valid_asset_name(name) {
        return Err(JsError::stream_invalid_config(
            "stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if name.len() > NAME_LEN_MAX {
        return Err(JsError::stream_invalid_config(format!(
            "stream name is too long, maximum allowed is {NAME_LEN_MAX}"
        )));
    }
    Ok(())
}

/// A consumer's `name` field when set (nats-server `checkConsumerCfg`, 10052).
pub fn check_consumer_name(name: &str) -> Result<(), JsError> {
    if !is_valid_asset_name(name) {
        return Err(JsError::stream_invalid_config(
            "consumer name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    Ok(())
}

/// A consumer's `durable_name` field when set (nats-server `checkConsumerCfg`, 10052).
pub fn check_durable_name(name: &str) -> Result<(), JsError> {
    if !is_valid_asset_name(name) {
        return Err(JsError::stream_invalid_config(
            "consumer durable name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    Ok(())
}

/// The name a consumer ends up with, when it is created (`addConsumer`): too long is
/// 10102, otherwise invalid is 10103.
pub fn check_consumer_final_name(name: &str) -> Result<(), JsError> {
    if name.len() > NAME_LEN_MAX {
        return Err(JsError::consumer_name_too_long(NAME_LEN_MAX));
    }
    if !is_valid_asset_name(name) {
        return Err(JsError::consumer_bad_durable_name());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in [
            "ORDERS",
            "a",
            "KV_bucket",
            "with-dash",
            "ünïcödé",
            "$weird#",
            "q\"uote",
        ] {
            assert!(is_valid_asset_name(name), "{name:?}");
            assert!(check_stream_name(name).is_ok());
        }
        assert!(check_stream_name(&"x".repeat(NAME_LEN_MAX)).is_ok());
    }

    #[test]
    fn invalid_names() {
        for name in [
            "", "a.b", "a*", ">", "a b", "a\tb", "a\rb", "a\nb", "a\x0cb", "a/b", "a\\b",
        ] {
            assert!(!is_valid_asset_name(name), "{name:?}");
            let err = check_stream_name(name).unwrap_err();
            assert_eq!((err.code, err.err_code), (500, 10052));
            assert_eq!(
                err.description,
                "stream name is required and can not contain '.', '*', '>', '\\', '/'"
            );
        }
        // Vertical tab is not in Go's list, so nats-server lets it through.
        assert!(is_valid_asset_name("a\x0bb"));
    }

    #[test]
    fn too_long_names() {
        let long = "x".repeat(NAME_LEN_MAX + 1);
        assert_eq!(
            check_stream_name(&long).unwrap_err().description,
            "stream name is too long, maximum allowed is 255"
        );
        assert_eq!(
            check_consumer_final_name(&long).unwrap_err().err_code,
            10102
        );
        // Length counts bytes, as Go's len does.
        assert!(check_stream_name(&"é".repeat(128)).is_err());
    }

    #[test]
    fn consumer_names() {
        assert!(check_consumer_name("C1").is_ok());
        assert_eq!(
            check_consumer_name("a.b").unwrap_err().description,
            "consumer name can not contain '.', '*', '>', '\\', '/'"
        );
        assert_eq!(
            check_durable_name("a b").unwrap_err().description,
            "consumer durable name can not contain '.', '*', '>', '\\', '/'"
        );
        assert_eq!(check_consumer_final_name("a>").unwrap_err().err_code, 10103);
        assert!(has_path_separators("a/b") && has_path_separators("a\\b"));
        assert!(!has_path_separators("a.b"));
    }
}
