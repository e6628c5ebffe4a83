//! User and group databases.
//!
//! Debian creates these with base-passwd's `postinst` (from
//! `/usr/share/base-passwd/*.master`) and adds `www-data` and `nobody`
//! there too. The image needs only the accounts its processes run as: root
//! for the php-fpm and nginx masters, www-data (33) for their workers, and
//! nobody/nogroup (65534) for tools that drop privileges. The ids are
//! Debian's fixed ones, so files owned by them in packages and volumes keep
//! their meaning.

use super::PostconfError;
use crate::tree::{Node, Tree};

/// Group id of `shadow`, which may read `/etc/shadow` (Debian's fixed id).
pub const SHADOW_GID: u32 = 42;

/// Group id of `adm`, which owns Debian's log directories.
pub const ADM_GID: u32 = 4;

/// User and group id of `www-data`.
pub const WWW_DATA: u32 = 33;

/// `/etc/passwd`: name, password placeholder, uid, gid, comment, home, shell.
const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

/// `/etc/group`. `staff` (50) owns a few `/usr/local` paths in base-files.
const GROUP: &str = "\
root:x:0:
adm:x:4:
shadow:x:42:
www-data:x:33:
staff:x:50:
nogroup:x:65534:
";

/// `/etc/shadow`: every account is locked (`*`), so no account can log in
/// with a password. An empty last-change field turns password ageing off.
const SHADOW: &str = "\
root:*::0:99999:7:::
www-data:*::0:99999:7:::
nobody:*::0:99999:7:::
";

/// `/etc/gshadow`: groups without passwords.
const GSHADOW: &str = "\
root:*::
adm:*::
shadow:*::
www-data:*::
staff:*::
nogroup:*::
";

/// Writes the account files and the home directories of root and www-data.
///
/// # Errors
///
/// [`PostconfError::Tree`] when a packaged entry is in the way.
pub fn configure(tree: &mut Tree) -> Result<(), PostconfError> {
    tree.insert("etc/passwd", Node::file(PASSWD, 0o644))?;
    tree.insert("etc/group", Node::file(GROUP, 0o644))?;
    tree.insert(
        "etc/shadow",
        Node::file(SHADOW, 0o640).owned_by(0, SHADOW_GID),
    )?;
    tree.insert(
        "etc/gshadow",
        Node::file(GSHADOW, 0o640).owned_by(0, SHADOW_GID),
    )?;
    tree.insert("root", Node::dir(0o700))?;
    tree.insert("var/www", Node::dir(0o755))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tree: &Tree, path: &str) -> String {
        String::from_utf8(tree.file_contents(path).expect("file").to_vec()).expect("utf-8")
    }

    #[test]
    fn accounts_have_debian_ids() {
        let mut tree = Tree::new();
        configure(&mut tree).expect("configure");
        let passwd = text(&tree, "etc/passwd");
        assert!(passwd.contains("\nwww-data:x:33:33:"), "{passwd}");
        assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
        assert!(passwd.contains("\nnobody:x:65534:65534:"), "{passwd}");
        let group = text(&tree, "etc/group");
        assert!(group.contains("\nnogroup:x:65534:"), "{group}");
        assert!(group.contains("\nwww-data:x:33:"), "{group}");
    }

    #[test]
    fn every_user_has_a_shadow_line_and_a_group() {
        let mut tree = Tree::new();
        configure(&mut tree).expect("configure");
        let shadow = text(&tree, "etc/shadow");
        let group = text(&tree, "etc/group");
        for line in PASSWD.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            assert!(shadow.contains(&format!("{}:*:", fields[0])), "{line}");
            assert!(group.contains(&format!(":x:{}:", fields[3])), "{line}");
        }
    }

    #[test]
    fn shadow_is_readable_by_group_shadow_only() {
        let mut tree = Tree::new();
        configure(&mut tree).expect("configure");
        let node = tree.get("etc/shadow").expect("shadow");
        assert_eq!((node.mode, node.uid, node.gid), (0o640, 0, SHADOW_GID));
    }
}
