//! Cursor pagination as the API conventions set it: `limit` (default 50,
//! max 200) and an opaque `cursor`; responses carry `next_cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Query parameters of a paginated list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request over an id-ordered list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    /// Return items strictly after this id (0 = from the start).
    pub after: i64,
}

impl Page {
    /// For a newest-first list: the id the page ends before (`None` on the
    /// first page). The cursor is the same opaque id either way.
    pub fn before(&self) -> Option<i64> {
        (self.after > 0).then_some(self.after)
    }
}

impl PageParams {
    pub fn parse(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match &self.cursor {
            None => 0,
            Some(c) => {
                decode_cursor(c).ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))?
            }
        };
        Ok(Page { limit, after })
    }
}

/// One page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Build a page from up to `limit + 1` fetched items: the extra one only
    /// proves there is a next page.
    pub fn from_overfetch(mut items: Vec<T>, page: Page, id: impl Fn(&T) -> i64) -> Self {
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        let next_cursor = if more { items.last().map(|t| encode_cursor(id(t))) } else { None };
        Self { items, next_cursor }
    }
}

/// An opaque cursor for "after id `id`" in an id-ordered list.
pub fn encode_cursor(id: i64) -> String {
    encode_tagged("v1", id)
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    match decode_tagged(cursor)? {
        (tag, id) if tag == "v1" => Some(id),
        _ => None,
    }
}

/// An opaque cursor carrying a short tag (direction, kind) and a position.
pub fn encode_tagged(tag: &str, position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}:{position}"))
}

/// The tag and non-negative position of a cursor this server issued.
pub fn decode_tagged(cursor: &str) -> Option<(String, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (tag, position) = text.split_once(':')?;
    let position: i64 = position.parse().ok().filter(|p: &i64| *p >= 0)?;
    Some((tag.to_string(), position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v1:-3")), None);
    }

    #[test]
    fn overfetch_sets_next_cursor_only_when_more() {
        let page = Page { limit: 2, after: 0 };
        let l = List::from_overfetch(vec![1, 2, 3], page, |x| *x);
        assert_eq!(l.items, vec![1, 2]);
        assert_eq!(l.next_cursor.as_deref().and_then(decode_cursor), Some(2));
        let l = List::from_overfetch(vec![1, 2], page, |x| *x);
        assert!(l.next_cursor.is_none());
    }

    #[test]
    fn limit_is_bounded() {
        assert!(PageParams { limit: Some(0), cursor: None }.parse().is_err());
        assert!(PageParams { limit: Some(201), cursor: None }.parse().is_err());
        assert_eq!(PageParams::default().parse().unwrap().limit, 50);
    }
}
