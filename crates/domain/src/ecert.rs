//! E-certificates (电子证照): the signed, self-contained result document of a case, and the rules
//! that decide whether one is genuine. Pure: signing takes a key, verifying takes the issuer's
//! published keys; key generation and storage live in the web layer.
//!
//! A certificate file is JSON: `{"format":"onestop-ecert-v1","payload":{..},"key_id":"..","signature":".."}`.
//! The signature is Ed25519 over the **canonical form** of `{"format","key_id","payload"}`
//! (everything but the signature): JSON with object keys sorted by their UTF-8 bytes, no
//! insignificant white space, strings escaped as JSON requires (non-ASCII kept as UTF-8), and
//! integers only (no fractions or exponents). The verifier canonicalises the payload exactly as
//! received, so a field added, removed or changed anywhere breaks the signature.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT: &str = "onestop-ecert-v1";

/// The issuing authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    /// GB/T 2260 code of the issuing region, e.g. `990121`.
    pub region_code: String,
    pub region_name: String,
    /// The hall or department that issued it, e.g. `罗平县政务服务中心`.
    pub authority: String,
}

/// Who the certificate is for: the full name and the masked ID number. The name identifies the
/// holder; the masked number (`9901**********123X`) lets a checker compare it with an ID card
/// without the certificate (or its QR code) carrying the full number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub id_masked: String,
}

/// One labelled value of the document, in the order it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// What the certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Unique certificate number, e.g. `990121-2026-0000001`.
    pub number: String,
    /// A stable code of the kind of document, e.g. `business_licence`.
    pub document_type: String,
    /// The title printed on it, e.g. `食品经营许可证`.
    pub title: String,
    pub issuer: Issuer,
    pub holder: Holder,
    pub fields: Vec<Field>,
    /// RFC 3339 UTC time of issue, e.g. `2026-03-18T01:30:00Z`.
    pub issued_at: String,
    /// The case (办件) it concludes.
    pub case_no: String,
}

/// A certificate as issued (and as written to a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub format: String,
    pub payload: Payload,
    pub key_id: String,
    /// Ed25519 signature, base64url without padding.
    pub signature: String,
}

/// A region's published verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    pub key_id: String,
    pub region_code: String,
    /// The 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// RFC 3339; certificates issued after this are not accepted under this key.
    pub retired_at: Option<String>,
}

/// Why a certificate is not valid. `code` is stable; `message` is for people (简体).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Invalid {}

/// Writes `v` in canonical form (see the module doc). Fails on a fractional number.
pub fn canonical_json(v: &Value) -> Result<String, Invalid> {
    let mut out = String::new();
    write_canonical(v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut String) -> Result<(), Invalid> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                return Err(Invalid::new("malformed", "证照内容含有不允许的小数"));
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_canonical(item, out)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

/// The bytes that are signed: the canonical form of `{"format","key_id","payload"}`.
pub fn signing_bytes(format: &str, key_id: &str, payload: &Value) -> Result<Vec<u8>, Invalid> {
    let doc = serde_json::json!({"format": format, "key_id": key_id, "payload": payload});
    Ok(canonical_json(&doc)?.into_bytes())
}

/// Signs `payload` with `key`, published as `key_id`.
pub fn sign(payload: Payload, key_id: &str, key: &SigningKey) -> Result<Certificate, Invalid> {
    let value = serde_json::to_value(&payload).map_err(|e| Invalid::new("malformed", e.to_string()))?;
    let bytes = signing_bytes(FORMAT, key_id, &value)?;
    let signature = key.sign(&bytes);
    Ok(Certificate {
        format: FORMAT.to_owned(),
        payload,
        key_id: key_id.to_owned(),
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    })
}

impl Certificate {
    /// The certificate file's text (canonical form, so the same certificate is the same file).
    pub fn to_file_text(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| canonical_json(&v).ok())
            .unwrap_or_default()
    }

    /// The certificate as the `c=` parameter of the verification link (base64url of the file).
    pub fn to_link_param(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_file_text())
    }
}

/// Reads a `c=` link parameter back into the certificate file's text.
pub fn from_link_param(param: &str) -> Result<String, Invalid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(param.trim().trim_end_matches('='))
        .map_err(|_| Invalid::new("malformed", "链接中的证照数据无法读取"))?;
    String::from_utf8(bytes).map_err(|_| Invalid::new("malformed", "链接中的证照数据无法读取"))
}

/// A certificate whose signature, key and dates check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub certificate: Certificate,
    pub key: PublishedKey,
}

/// Checks a certificate file's text against published keys. `find_key` returns the published
/// key with that id, if any; the key must belong to the region named as issuer, and must not
/// have been retired before the certificate's issue time.
pub fn verify(text: &str, find_key: impl Fn(&str) -> Option<PublishedKey>) -> Result<Verified, Invalid> {
    let raw: Value = serde_json::from_str(text.trim_start_matches('\u{feff}').trim())
        .map_err(|_| Invalid::new("malformed", "不是有效的电子证照文件（无法解析 JSON）"))?;
    let obj = raw
        .as_object()
        .ok_or_else(|| Invalid::new("malformed", "不是有效的电子证照文件"))?;
    let format = obj.get("format").and_then(Value::as_str).unwrap_or_default();
    if format != FORMAT {
        return Err(Invalid::new("format_unknown", format!("不支持的证照格式：{format:?}")));
    }
    if let Some(extra) = obj
        .keys()
        .find(|k| !["format", "payload", "key_id", "signature"].contains(&k.as_str()))
    {
        return Err(Invalid::new("malformed", format!("证照文件含有多余的字段：{extra}")));
    }
    let key_id = obj
        .get("key_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Invalid::new("malformed", "证照缺少签名密钥编号"))?;
    let sig_text = obj
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| Invalid::new("malformed", "证照缺少签名"))?;
    let payload_value = obj
        .get("payload")
        .ok_or_else(|| Invalid::new("malformed", "证照缺少内容"))?;
    let payload: Payload = serde_json::from_value(payload_value.clone())
        .map_err(|e| Invalid::new("malformed", format!("证照内容不完整：{e}")))?;
    let key = find_key(key_id)
        .ok_or_else(|| Invalid::new("key_unknown", format!("签名密钥 {key_id} 不是任何区划公布的密钥")))?;
    if key.region_code != payload.issuer.region_code {
        return Err(Invalid::new(
            "key_region_mismatch",
            format!(
                "签名密钥属于区划 {}，而证照写明的签发区划是 {}",
                key.region_code, payload.issuer.region_code
            ),
        ));
    }
    let sig_bytes = URL_SAFE_NO_PAD
        .decode(sig_text.trim_end_matches('='))
        .map_err(|_| Invalid::new("signature_invalid", "签名格式不正确"))?;
    let signature =
        Signature::from_slice(&sig_bytes).map_err(|_| Invalid::new("signature_invalid", "签名格式不正确"))?;
    let public = decode_public_key(&key.public_key)?;
    let bytes = signing_bytes(format, key_id, payload_value)?;
    public
        .verify(&bytes, &signature)
        .map_err(|_| Invalid::new("signature_invalid", "签名验证失败：证照内容被改动，或并非由该区划签发"))?;
    let issued: jiff::Timestamp = payload
        .issued_at
        .parse()
        .map_err(|_| Invalid::new("malformed", "签发时间格式不正确"))?;
    if let Some(retired) = &key.retired_at {
        let retired: jiff::Timestamp = retired
            .parse()
            .map_err(|_| Invalid::new("key_invalid", "公布的密钥停用时间格式不正确"))?;
        if issued >= retired {
            return Err(Invalid::new("key_retired", "签发时该签名密钥已经停用".to_owned()));
        }
    }
    let certificate = Certificate {
        format: format.to_owned(),
        payload,
        key_id: key_id.to_owned(),
        signature: sig_text.to_owned(),
    };
    Ok(Verified { certificate, key })
}

/// Reads a published public key.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, Invalid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Invalid::new("key_invalid", "公布的公钥格式不正确"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Invalid::new("key_invalid", "公布的公钥长度不正确"))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| Invalid::new("key_invalid", "公布的公钥无效"))
}

/// A public key in its published form (base64url, no padding).
pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn payload() -> Payload {
        Payload {
            number: "990121-2026-0000001".into(),
            document_type: "food_licence".into(),
            title: "食品经营许可证".into(),
            issuer: Issuer {
                region_code: "990121".into(),
                region_name: "罗平县".into(),
                authority: "罗平县政务服务中心".into(),
            },
            holder: Holder {
                name: "张三".into(),
                id_masked: "9901**********123X".into(),
            },
            fields: vec![
                Field {
                    label: "经营场所".into(),
                    value: "罗平县人民路 1 号".into(),
                },
                Field {
                    label: "有效期至".into(),
                    value: "2031年3月17日".into(),
                },
            ],
            issued_at: "2026-03-18T01:30:00Z".into(),
            case_no: "990121-20260318-00001-7".into(),
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn published(k: &SigningKey, id: &str, region: &str, retired: Option<&str>) -> PublishedKey {
        PublishedKey {
            key_id: id.into(),
            region_code: region.into(),
            public_key: encode_public_key(&k.verifying_key()),
            retired_at: retired.map(str::to_owned),
        }
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_white_space() {
        let v: Value = serde_json::from_str(r#"{ "b": [2, 1], "a": {"z": "字", "y": null, "x": "\"q\""} }"#).unwrap();
        assert_eq!(
            canonical_json(&v).unwrap(),
            r#"{"a":{"x":"\"q\"","y":null,"z":"字"},"b":[2,1]}"#
        );
        assert!(canonical_json(&serde_json::json!({"n": 1.5})).is_err());
    }

    #[test]
    fn a_signed_certificate_verifies_and_survives_reformatting() {
        let k = key(7);
        let cert = sign(payload(), "990121.k1", &k).unwrap();
        let pk = published(&k, "990121.k1", "990121", None);
        let find = |id: &str| (id == "990121.k1").then(|| pk.clone());
        let text = cert.to_file_text();
        assert_eq!(verify(&text, find).unwrap().certificate, cert);
        // Pretty-printed by someone's editor: still the same certificate.
        let pretty = serde_json::to_string_pretty(&cert).unwrap();
        assert!(verify(&pretty, find).is_ok());
        // Through the QR link.
        let back = from_link_param(&cert.to_link_param()).unwrap();
        assert!(verify(&back, find).is_ok());
    }

    #[test]
    fn an_altered_certificate_fails() {
        let k = key(7);
        let cert = sign(payload(), "990121.k1", &k).unwrap();
        let pk = published(&k, "990121.k1", "990121", None);
        let find = |id: &str| (id == "990121.k1").then(|| pk.clone());
        let mut v = serde_json::to_value(&cert).unwrap();
        v["payload"]["holder"]["name"] = "李四".into();
        let err = verify(&v.to_string(), find).unwrap_err();
        assert_eq!(err.code, "signature_invalid");
        // An added field is a change too.
        let mut v = serde_json::to_value(&cert).unwrap();
        v["payload"]["fields"][0]["note"] = "x".into();
        assert_eq!(verify(&v.to_string(), find).unwrap_err().code, "signature_invalid");
        // Another key id than the one signed.
        let mut v = serde_json::to_value(&cert).unwrap();
        v["key_id"] = "990121.k2".into();
        let pk2 = published(&k, "990121.k2", "990121", None);
        assert_eq!(
            verify(&v.to_string(), |_| Some(pk2.clone())).unwrap_err().code,
            "signature_invalid"
        );
    }

    #[test]
    fn a_forged_certificate_fails() {
        let real = key(7);
        let forger = key(9);
        let cert = sign(payload(), "990121.k1", &forger).unwrap();
        let pk = published(&real, "990121.k1", "990121", None);
        assert_eq!(
            verify(&cert.to_file_text(), |_| Some(pk.clone())).unwrap_err().code,
            "signature_invalid"
        );
        // A genuine key of another region cannot vouch for this region.
        let other = published(&forger, "990122.k1", "990122", None);
        let cert = sign(payload(), "990122.k1", &forger).unwrap();
        assert_eq!(
            verify(&cert.to_file_text(), |_| Some(other.clone())).unwrap_err().code,
            "key_region_mismatch"
        );
        assert_eq!(verify(&cert.to_file_text(), |_| None).unwrap_err().code, "key_unknown");
        assert_eq!(verify("not json", |_| None).unwrap_err().code, "malformed");
        assert_eq!(
            verify(r#"{"format":"other"}"#, |_| None).unwrap_err().code,
            "format_unknown"
        );
    }

    #[test]
    fn a_retired_key_still_verifies_what_it_signed_before_retirement() {
        let k = key(7);
        let cert = sign(payload(), "990121.k1", &k).unwrap();
        let after = published(&k, "990121.k1", "990121", Some("2026-06-01T00:00:00Z"));
        assert!(verify(&cert.to_file_text(), |_| Some(after.clone())).is_ok());
        let before = published(&k, "990121.k1", "990121", Some("2026-03-01T00:00:00Z"));
        assert_eq!(
            verify(&cert.to_file_text(), |_| Some(before.clone())).unwrap_err().code,
            "key_retired"
        );
    }
}
