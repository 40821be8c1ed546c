//! Names a copy builds under on the destination. Every name a task creates there starts
//! with the task's staging prefix, so a task's leftovers can always be found and dropped
//! with nothing but its tag, and no name of a user's is ever taken for one of a copy's.

/// The shortest identifier limit among the engines (63 bytes).
const MAX_IDENT: usize = 63;

pub fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// `ors_stg_<tag>_`: the tag as is when short and plain, else a hash of it, so two tags
/// never share a prefix.
pub fn staging_prefix(tag: &str) -> String {
    let plain = !tag.is_empty() && tag.len() <= 20 && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if plain {
        format!("{STAGING_MARK}{tag}_")
    } else {
        format!("{STAGING_MARK}h{:012x}_", fnv64(tag) & 0xffff_ffff_ffff)
    }
}

/// Whether `name` is one a copy builds under (a staging database, or one set aside during
/// publication): such databases are the copy's, not the user's, until published.
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with(STAGING_MARK)
}

/// The start of every name a copy builds under.
const STAGING_MARK: &str = "ors_stg_";

/// The name `dst` is built under for the task tagged `staging_tag`: the task's prefix, a
/// hash of `dst` (so distinct names never collide) and as much of `dst` as fits, in plain
/// characters, within every engine's identifier limit.
pub fn staging_name(dst: &str, staging_tag: &str) -> String {
    let mut name = format!("{}{:08x}_", staging_prefix(staging_tag), fnv64(dst) & 0xffff_ffff);
    for c in dst.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
        if name.len() >= MAX_IDENT {
            break;
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// Where an existing destination database is moved aside during publication, by engines
/// that publish by renaming databases.
pub fn aside_name(dst: &str, staging_tag: &str) -> String {
    format!("{}old_{:08x}", staging_prefix(staging_tag), fnv64(dst) & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_fit_and_differ() {
        let long = "x".repeat(63);
        let n = staging_name(&long, "imp42");
        assert!(n.len() <= 63 && n.starts_with("ors_stg_imp42_"));
        assert_ne!(staging_name("Sales", "t1"), staging_name("sales", "t1"));
        assert_ne!(staging_name("a", "t1"), staging_name("a", "t2"));
        let odd = staging_name("ünïcode \"db\"", "Some Tag/With Stuff That Is Long");
        assert!(odd.len() <= 63 && odd.is_ascii());
        assert!(odd.starts_with(&staging_prefix("Some Tag/With Stuff That Is Long")));
        assert!(aside_name("a", "t1").starts_with(&staging_prefix("t1")));
        // A plain tag's prefix is never a prefix of another plain tag's.
        assert!(!staging_prefix("imp42").starts_with(&staging_prefix("imp4")));
    }
}
