//! Time zone names, checked against the IANA time zone database that
//! chrono-tz compiles in, the same one phpeek-pm checks `TZ` against.
//!
//! NOTE: PHP reads its own copy of the database (Debian's PHP reads the
//! system's tzdata). A zone added after chrono-tz's release is rejected
//! here until chrono-tz is updated.

/// Returns the database's spelling of `name`, which may be in any case, or
/// `None` when the database has no such zone. php.ini gets that spelling,
/// so PHP needn't match names without regard to case.
pub(super) fn canonical(name: &str) -> Option<&'static str> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name())
        .find(|zone| zone.eq_ignore_ascii_case(name))
}

/// Returns the zone whose name is closest to `name`, ignoring case, when it
/// differs by at most 3 edits: a likely typo.
pub(super) fn closest(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name())
        .map(|zone| (edit_distance(&name, &zone.to_ascii_lowercase()), zone))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, zone)| zone)
}

/// Levenshtein distance: the fewest single-character insertions, deletions
/// and substitutions that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ignores_case() {
        assert_eq!(canonical("Europe/Berlin"), Some("Europe/Berlin"));
        assert_eq!(canonical("europe/berlin"), Some("Europe/Berlin"));
        assert_eq!(canonical("utc"), Some("UTC"));
        assert_eq!(canonical("Europe/Berln"), None);
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("Europe/Berln"), Some("Europe/Berlin"));
        assert_eq!(closest("america/new_yrok"), Some("America/New_York"));
        assert_eq!(closest("Mars/Olympus_Mons"), None);
    }

    #[test]
    fn edit_distance_counts_each_edit() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
