//! The framework's writable folders: created at start, and handed to the
//! app user when the entrypoint runs as root.
//!
//! Only the folders the framework writes to change owner, with everything
//! in them; the rest of the app (vendor/, the code) keeps its owner. What
//! can't be done, as non-root or on a read-only file system, is reported in
//! one line and skipped.

use std::io;
use std::os::unix::fs::{lchown, MetadataExt};
use std::path::{Path, PathBuf};

use crate::framework::Framework;
use crate::message;

/// The owner given to writable folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    /// User id.
    pub(crate) uid: u32,
    /// Group id.
    pub(crate) gid: u32,
}

/// Creates the writable folders of `framework` in `app_dir` and, when
/// `owner` is given, hands them to it. With `sqlite`, also creates the
/// Laravel SQLite database when it is missing, and hands it over with its
/// folder.
pub(crate) fn prepare(app_dir: &Path, framework: Framework, owner: Option<Owner>, sqlite: bool) {
    let created = framework
        .writable_folders()
        .iter()
        .filter(|folder| create(&app_dir.join(folder)))
        .count();
    if created > 0 {
        message::info(format_args!(
            "created {created} writable folders for {framework}"
        ));
    }

    let mut owned: Vec<PathBuf> = framework
        .owned_folders()
        .iter()
        .map(|folder| app_dir.join(folder))
        .filter(|path| path.is_dir())
        .collect();
    let database = app_dir.join("database/database.sqlite");
    let sqlite = sqlite && framework == Framework::Laravel;
    if sqlite {
        create_database(&database);
    }
    let sqlite = sqlite && database.is_file();
    if owned.is_empty() && !sqlite {
        return;
    }
    let Some(owner) = owner else {
        message::info("not running as root: writable folders keep their owner");
        return;
    };

    for folder in &owned {
        if let Err((path, error)) = chown_tree(folder, owner) {
            report_chown_failure(&path, &error);
        }
    }
    if sqlite {
        hand_over_database(&database, owner);
        owned.push(app_dir.join("database"));
    }
    let names: Vec<String> = owned
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(app_dir).unwrap_or(path);
            relative.display().to_string()
        })
        .collect();
    message::info(format_args!(
        "gave {} to uid {} gid {}",
        names.join(", "),
        owner.uid,
        owner.gid
    ));
}

/// Creates `path` with its parents. Returns whether it was missing and is
/// now created; a failure is reported and returns false.
fn create(path: &Path) -> bool {
    if path.is_dir() {
        return false;
    }
    match std::fs::create_dir_all(path) {
        Ok(()) => true,
        Err(error) => {
            message::info(format_args!(
                "cannot create {}: {error}; skipped",
                path.display()
            ));
            false
        }
    }
}

/// Creates an empty SQLite database, because Laravel's `migrate` fails
/// when the file is missing. Only an existing `database/` folder gets one,
/// and a failure is reported and skipped.
fn create_database(database: &Path) {
    let folder_exists = database.parent().is_some_and(Path::is_dir);
    if !folder_exists || database.exists() {
        return;
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(database);
    match created {
        Ok(_) => message::info(format_args!(
            "created the empty SQLite database {}",
            database.display()
        )),
        Err(error) => message::info(format_args!(
            "cannot create {}: {error}; skipped",
            database.display()
        )),
    }
}

/// Changes the owner of `root` and everything under it. Symbolic links are
/// changed themselves and never followed, so a link can't hand over files
/// outside the folder. Entries that already have the owner are left alone.
///
/// # Errors
///
/// Stops at the first entry that fails, and returns it with the error.
fn chown_tree(root: &Path, owner: Owner) -> Result<(), (PathBuf, io::Error)> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).map_err(|error| (path.clone(), error))?;
        if metadata.uid() != owner.uid || metadata.gid() != owner.gid {
            lchown(&path, Some(owner.uid), Some(owner.gid))
                .map_err(|error| (path.clone(), error))?;
        }
        if metadata.is_dir() {
            let entries = std::fs::read_dir(&path).map_err(|error| (path.clone(), error))?;
            for entry in entries {
                let entry = entry.map_err(|error| (path.clone(), error))?;
                pending.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Gives the SQLite folder itself (not its contents) and the database with
/// its journal files to `owner`, because SQLite creates the journal next to
/// the database.
fn hand_over_database(database: &Path, owner: Owner) {
    let mut paths = vec![database.to_path_buf()];
    if let Some(folder) = database.parent() {
        paths.push(folder.to_path_buf());
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let journal = PathBuf::from(name);
        if journal.is_file() {
            paths.push(journal);
        }
    }
    for path in paths {
        if let Err(error) = lchown(&path, Some(owner.uid), Some(owner.gid)) {
            report_chown_failure(&path, &error);
        }
    }
}

fn report_chown_failure(path: &Path, error: &io::Error) {
    message::info(format_args!(
        "cannot change the owner of {}: {error}; skipped",
        path.display()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_owner(path: &Path) -> io::Result<Owner> {
        let metadata = std::fs::symlink_metadata(path)?;
        Ok(Owner {
            uid: metadata.uid(),
            gid: metadata.gid(),
        })
    }

    #[test]
    fn laravel_folders_are_created() -> io::Result<()> {
        let app = tempfile::tempdir()?;
        prepare(app.path(), Framework::Laravel, None, false);

        for folder in Framework::Laravel.writable_folders() {
            assert!(app.path().join(folder).is_dir(), "{folder}");
        }
        assert!(!app.path().join("vendor").exists());
        Ok(())
    }

    #[test]
    fn sqlite_database_is_created_once() -> io::Result<()> {
        let app = tempfile::tempdir()?;
        let database = app.path().join("database/database.sqlite");
        prepare(app.path(), Framework::Laravel, None, true);

        assert!(!database.exists(), "created without a database folder");
        std::fs::create_dir(app.path().join("database"))?;
        prepare(app.path(), Framework::Laravel, None, false);

        assert!(!database.exists(), "created without sqlite");
        prepare(app.path(), Framework::Laravel, None, true);

        assert_eq!(std::fs::read(&database)?, b"");
        std::fs::write(&database, "data")?;
        prepare(app.path(), Framework::Laravel, None, true);

        assert_eq!(std::fs::read(&database)?, b"data");
        Ok(())
    }

    #[test]
    fn plain_php_creates_nothing() -> io::Result<()> {
        let app = tempfile::tempdir()?;
        prepare(app.path(), Framework::Plain, None, false);

        assert_eq!(std::fs::read_dir(app.path())?.count(), 0);
        Ok(())
    }

    #[test]
    fn chown_to_own_ids_walks_tree() -> io::Result<()> {
        let app = tempfile::tempdir()?;
        let storage = app.path().join("storage/logs");
        std::fs::create_dir_all(&storage)?;
        std::fs::write(storage.join("laravel.log"), "")?;
        let owner = current_owner(app.path())?;

        assert!(chown_tree(&app.path().join("storage"), owner).is_ok());
        assert_eq!(current_owner(&storage.join("laravel.log"))?, owner);
        Ok(())
    }

    #[test]
    fn chown_does_not_follow_links() -> io::Result<()> {
        let app = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let storage = app.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        std::os::unix::fs::symlink(outside.path(), storage.join("link"))?;
        std::fs::write(outside.path().join("secret"), "")?;
        let before = current_owner(&outside.path().join("secret"))?;
        // Only root can give files away; others can only test the walk.
        let owner = if nix::unistd::Uid::effective().is_root() {
            Owner {
                uid: 4242,
                gid: 4243,
            }
        } else {
            before
        };

        assert!(chown_tree(&storage, owner).is_ok());
        assert_eq!(current_owner(&storage.join("link"))?, owner);
        assert_eq!(current_owner(&outside.path().join("secret"))?, before);
        Ok(())
    }

    #[test]
    fn chown_failure_names_entry() {
        let missing = Path::new("/nonexistent/phpeek/storage");
        let owner = Owner { uid: 0, gid: 0 };
        let failure = chown_tree(missing, owner).err();

        assert_eq!(failure.map(|(path, _)| path), Some(missing.to_path_buf()));
    }
}
