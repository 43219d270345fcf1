//! Glob matching for `nick!user@host` masks.

/// Whether `text` matches the glob `mask` (`*` any run, `?` any one character). Compare
/// casefolded strings for a case-insensitive match.
pub fn mask_matches(mask: &str, text: &str) -> bool {
    let mask: Vec<char> = mask.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative glob with one backtrack point: linear in practice, no recursion.
    let (mut m, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if m < mask.len() && (mask[m] == '?' || mask[m] == text[t]) {
            m += 1;
            t += 1;
        } else if m < mask.len() && mask[m] == '*' {
            star = Some((m, t));
            m += 1;
        } else if let Some((sm, st)) = star {
            m = sm + 1;
            t = st + 1;
            star = Some((sm, st + 1));
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|c| *c == '*')
}
