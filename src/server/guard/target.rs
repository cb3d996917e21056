//! The request-target check the guard makes on every head, without a copy in the common
//! case.

use crate::classify::normalize::is_segment_char;

/// An origin-form target of only path-segment characters (unreserved, sub-delims, `:@`)
/// and `/?%`: one `http::Uri` accepts without a doubt, so the common request is not parsed
/// (and copied) twice just to learn that. Anything else goes through `Uri::try_from`.
pub(super) fn plain_origin_form(target: &str) -> bool {
    target.starts_with('/')
        && target
            .bytes()
            .all(|b| is_segment_char(b) || matches!(b, b'/' | b'?' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::plain_origin_form;
    use proptest::prelude::*;

    #[test]
    fn only_origin_forms_take_the_short_way() {
        let cases = [
            ("/payments/v1/payouts/po_1", true),
            ("/a/b?x=1&y=%41~", true),
            ("/", true),
            ("*", false),
            ("http://h/a", false),
            ("/a b", false),
            ("/a#frag", false),
            ("/a\"b", false),
            ("/a{b}", false),
            ("", false),
        ];
        for (target, plain) in cases {
            assert_eq!(plain_origin_form(target), plain, "{target:?}");
        }
    }

    proptest! {
        // The short way never accepts a target the full parse would refuse.
        #[test]
        fn what_the_short_way_accepts_http_accepts(target in "/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,40}") {
            prop_assert!(plain_origin_form(&target));
            prop_assert!(http::Uri::try_from(target.as_str()).is_ok(), "{target:?}");
        }

        #[test]
        fn any_target_accepted_short_parses(target in "[ -~]{0,40}") {
            if plain_origin_form(&target) {
                prop_assert!(http::Uri::try_from(target.as_str()).is_ok(), "{target:?}");
            }
        }
    }
}
