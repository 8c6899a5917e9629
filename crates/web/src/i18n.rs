//! Message catalogues: UI text lives in `i18n/<locale>.toml`, not in templates.
//! 简体中文 is the default and the fallback for every key.
use std::collections::HashMap;
use std::sync::OnceLock;

const ZH_CN: &str = include_str!("../i18n/zh-CN.toml");

/// A locale's messages; `get` never fails (an unknown key shows itself, which tests catch).
#[derive(Debug)]
pub struct Messages {
    pub lang: &'static str,
    map: HashMap<String, String>,
}

impl Messages {
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.map.get(key).map(String::as_str).unwrap_or(key)
    }
}

fn parse(src: &str) -> HashMap<String, String> {
    toml::from_str::<HashMap<String, String>>(src).unwrap_or_default()
}

/// The catalogue for `lang` (only zh-CN ships today).
pub fn messages(_lang: Option<&str>) -> &'static Messages {
    static ZH: OnceLock<Messages> = OnceLock::new();
    ZH.get_or_init(|| Messages {
        lang: "zh-CN",
        map: parse(ZH_CN),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_catalogue_parses_and_has_the_login_strings() {
        let m = super::messages(None);
        assert_eq!(m.get("login.submit"), "登录");
        assert!(m.map.len() > 50);
    }
}
