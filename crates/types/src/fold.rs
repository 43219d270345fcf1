//! Unicode casefolding for names.

use unicode_normalization::UnicodeNormalization;

/// The comparison key of a name: NFKC, then Unicode full case folding, then NFKC again.
///
/// Two names are the same name exactly when their keys are equal, so `Alice`, `alice` and
/// `ＡＬＩＣＥ` (fullwidth) all share the key `alice`. This is the `NFKC_Casefold` idea of
/// Unicode (UAX #31) and matches what IRC servers announce as `CASEMAPPING=rfc8265`.
pub fn casefold(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    caseless::default_case_fold_str(&nfkc).nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::casefold;

    #[test]
    fn folds_ascii_fullwidth_and_sharp_s() {
        assert_eq!(casefold("Alice"), "alice");
        assert_eq!(casefold("ＡＬＩＣＥ"), "alice");
        assert_eq!(casefold("Straße"), casefold("STRASSE"));
        assert_eq!(casefold("小明"), "小明");
        assert_eq!(casefold("ZOË"), casefold("zoë"));
    }
}
