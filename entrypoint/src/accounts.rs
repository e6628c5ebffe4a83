//! The app user: its ids from the user database, and the PUID/PGID remap.
//!
//! The remap edits the passwd and group files directly (see [`database`])
//! instead of calling `usermod`/`groupmod`, which images may lack. It only
//! runs as root, before anything is handed to the app user.

mod database;

use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

use database::Ids;
pub(crate) use database::RemapError;

use crate::message;
use crate::settings::Settings;

/// The account that PHP workers, hooks and queue workers run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppUser {
    /// User name, from APP_USER.
    pub(crate) name: String,
    /// Name of its primary group.
    pub(crate) group: String,
    /// User id.
    pub(crate) uid: Uid,
    /// Primary group id.
    pub(crate) gid: Gid,
}

/// Failure to set up the app user, which stops the start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// APP_USER names no account.
    #[error("APP_USER `{0}` does not exist; create the account in the image or set APP_USER")]
    Missing(String),
    /// The user database could not be read.
    #[error("failed to look up APP_USER `{name}`")]
    Lookup {
        /// The user name.
        name: String,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// PUID or PGID can't be applied.
    #[error(transparent)]
    Remap(#[from] RemapError),
}

/// Applies PUID and PGID when set, then looks up the app user. Only call it
/// as root.
///
/// A passwd or group file that can't be read or written (a read-only root
/// file system) is reported in one line and skipped.
///
/// # Errors
///
/// Returns an error when the account doesn't exist or PUID/PGID is taken by
/// another account.
pub(crate) fn prepare(settings: &Settings) -> Result<AppUser, AccountError> {
    let name = settings.text("APP_USER").unwrap_or("www-data").to_owned();
    let request = Request {
        uid: settings.u32("PUID"),
        gid: settings.u32("PGID"),
        passwd: settings.path("PHPEEK_PASSWD_FILE"),
        group: settings.path("PHPEEK_GROUP_FILE"),
    };
    let remapped = if request.uid.is_some() || request.gid.is_some() {
        remap(&name, &request)?
    } else {
        None
    };

    let account = match User::from_name(&name) {
        Ok(Some(account)) => account,
        Ok(None) => return Err(AccountError::Missing(name)),
        Err(source) => return Err(AccountError::Lookup { name, source }),
    };
    let (uid, gid, group) = match remapped {
        Some((ids, group)) => (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid), group),
        None => (account.uid, account.gid, group_name(account.gid)),
    };
    let group = group.unwrap_or_else(|| name.clone());
    Ok(AppUser {
        name,
        group,
        uid,
        gid,
    })
}

/// Returns the name of group `gid`, or none when the group database has
/// no such group.
fn group_name(gid: Gid) -> Option<String> {
    Group::from_gid(gid).ok().flatten().map(|group| group.name)
}

/// The ids PUID and PGID request, and the files to edit.
struct Request {
    uid: Option<u32>,
    gid: Option<u32>,
    passwd: PathBuf,
    group: PathBuf,
}

/// Rewrites the passwd and group files. Returns the new ids and the group
/// name, or none when the files couldn't be read or written.
fn remap(user: &str, request: &Request) -> Result<Option<(Ids, Option<String>)>, RemapError> {
    let Some(passwd) = read(&request.passwd) else {
        return Ok(None);
    };
    let file = request.passwd.display().to_string();
    let Some(old) = database::find_user(&passwd, user) else {
        let user = user.to_owned();
        return Err(RemapError::UserNotFound { user, file });
    };

    let mut new = old;
    let mut passwd_text = passwd.clone();
    let mut group_change = None;
    if let Some(uid) = request.uid {
        passwd_text = database::set_uid(&passwd_text, user, uid)?;
        new.uid = uid;
    }
    if let Some(gid) = request.gid {
        let Some(group) = read(&request.group) else {
            return Ok(None);
        };
        let file = request.group.display().to_string();
        let (name, text) = database::renumber_group(&group, old.gid, gid, (user, &file))?;
        passwd_text = database::move_primary_group(&passwd_text, old.gid, gid);
        new.gid = gid;
        group_change = Some((name, group, text));
    }

    // The group file goes first: a passwd file pointing at a gid that no
    // group has yet would leave the user without a group name.
    if let Some((_, before, after)) = &group_change {
        if !write_if_changed(&request.group, before, after) {
            return Ok(None);
        }
    }
    if !write_if_changed(&request.passwd, &passwd, &passwd_text) {
        return Ok(None);
    }
    message::info(format_args!(
        "APP_USER {user} now has uid {} and gid {} (was {} and {})",
        new.uid, new.gid, old.uid, old.gid
    ));
    Ok(Some((new, group_change.map(|(name, _, _)| name))))
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) => {
            skipped(path, "read", &error);
            None
        }
    }
}

/// Writes `after` over `path` unless it equals `before`. Returns false when
/// the write failed, which has been reported.
fn write_if_changed(path: &Path, before: &str, after: &str) -> bool {
    if before == after {
        return true;
    }
    match replace_file(path, after) {
        Ok(()) => true,
        Err(error) => {
            skipped(path, "write", &error);
            false
        }
    }
}

/// Replaces the contents of `path`, through a renamed temporary file so a
/// crash can't leave half a file. A file that can't be replaced by rename,
/// such as a bind-mounted one, is written in place.
fn replace_file(path: &Path, contents: &str) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".phpeek-new");
    let temporary = PathBuf::from(temporary);
    let permissions = std::fs::metadata(path)?.permissions();

    let renamed = std::fs::write(&temporary, contents)
        .and_then(|()| std::fs::set_permissions(&temporary, permissions))
        .and_then(|()| std::fs::rename(&temporary, path));
    match renamed {
        Ok(()) => Ok(()),
        Err(_) => {
            let _ = std::fs::remove_file(&temporary);
            std::fs::write(path, contents)
        }
    }
}

fn skipped(path: &Path, action: &str, error: &io::Error) {
    message::info(format_args!(
        "PUID/PGID not applied: failed to {action} {}: {error}",
        path.display()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\n";

    fn files() -> io::Result<(tempfile::TempDir, Request)> {
        let dir = tempfile::tempdir()?;
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(&passwd, PASSWD)?;
        std::fs::write(&group, GROUP)?;
        let request = Request {
            uid: None,
            gid: None,
            passwd,
            group,
        };
        Ok((dir, request))
    }

    #[test]
    fn remap_rewrites_both_files() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut request) = files()?;
        request.uid = Some(1000);
        request.gid = Some(1001);
        let result = remap("www-data", &request)?;

        let expected = Ids {
            uid: 1000,
            gid: 1001,
        };
        assert_eq!(result, Some((expected, Some("www-data".to_owned()))));
        let passwd = std::fs::read_to_string(&request.passwd)?;
        let group = std::fs::read_to_string(&request.group)?;

        assert!(passwd.contains("www-data:x:1000:1001:"));
        assert_eq!(group, "root:x:0:\nwww-data:x:1001:\n");
        Ok(())
    }

    #[test]
    fn remap_to_root_uid_is_rejected() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut request) = files()?;
        request.uid = Some(0);
        let error = remap("www-data", &request).err();

        assert_eq!(
            error,
            Some(RemapError::UidTaken {
                uid: 0,
                account: "root".to_owned()
            })
        );
        assert_eq!(std::fs::read_to_string(&request.passwd)?, PASSWD);
        Ok(())
    }

    #[test]
    fn remap_of_unknown_user_names_file() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut request) = files()?;
        request.uid = Some(1000);
        let message = remap("app", &request).err().map(|error| error.to_string());

        let expected = format!("user `app` is not in {}", request.passwd.display());
        assert_eq!(message, Some(expected));
        Ok(())
    }

    #[test]
    fn unreadable_passwd_file_skips_remap() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut request) = files()?;
        request.passwd = request.passwd.with_file_name("missing");
        request.uid = Some(1000);

        assert_eq!(remap("www-data", &request)?, None);
        Ok(())
    }

    #[test]
    fn replaced_file_keeps_permissions() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, request) = files()?;
        std::fs::set_permissions(&request.group, std::fs::Permissions::from_mode(0o640))?;
        replace_file(&request.group, "x\n")?;

        let mode = std::fs::metadata(&request.group)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(std::fs::read_to_string(&request.group)?, "x\n");
        Ok(())
    }
}
