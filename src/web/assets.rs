//! The stylesheet, the script and the icon, compiled into the binary and
//! served under names that carry a hash of their content: a page always
//! names the current file, so each can be cached for a year
//! (`immutable`) and a new release is fetched at once. A machine without
//! internet shows the same page: nothing comes from elsewhere.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// `app.3f2a9c1e.css`: the logical name with the first 8 bytes of its SHA-256.
    name: String,
    body: &'static [u8],
    content_type: &'static str,
}

impl Asset {
    fn new(logical: &str, body: &'static [u8], content_type: &'static str) -> Self {
        let digest = hex::encode(&Sha256::digest(body)[..8]);
        let name = match logical.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
            None => format!("{logical}.{digest}"),
        };
        Self { name, body, content_type }
    }

    fn url(&self) -> String {
        format!("/assets/{}", self.name)
    }
}

static CSS: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("app.css", include_bytes!("assets/app.css"), "text/css; charset=utf-8"));
static JS: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("app.js", include_bytes!("assets/app.js"), "text/javascript; charset=utf-8"));
static ICON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new("icon.svg", include_bytes!("assets/icon.svg"), "image/svg+xml"));

/// The addresses a page links to.
#[derive(Debug, Clone)]
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub icon: String,
}

pub static URLS: LazyLock<AssetUrls> = LazyLock::new(|| AssetUrls { css: CSS.url(), js: JS.url(), icon: ICON.url() });

/// `GET /assets/{name}`: only the current names exist; an old one is a 404
/// (the page that named it is older than this binary).
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = [&*CSS, &*JS, &*ICON].into_iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_change_with_their_content() {
        let a = Asset::new("app.css", b"body{}", "text/css");
        let b = Asset::new("app.css", b"body{color:red}", "text/css");
        assert!(a.name.starts_with("app.") && a.name.ends_with(".css"), "{}", a.name);
        assert_eq!(a.name.len(), "app..css".len() + 16);
        assert_ne!(a.name, b.name);
        assert!(URLS.js.starts_with("/assets/app.") && URLS.js.ends_with(".js"));
    }
}
