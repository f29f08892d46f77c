//! Conversations kept by the appliance, one JSON file each, outside the workspace (under the
//! state folder, beside the audit log), written atomically, folder mode 0700 and files 0600.

use std::path::{Path, PathBuf};

use airlock_protocol::chat::{Conversation, ConversationSummary};

/// Largest stored conversation.
pub const MAX_CONVERSATION_BYTES: usize = 4 << 20;

/// Why a conversation call failed.
#[derive(Debug)]
pub enum ChatStoreError {
    /// The id is not 16 lower-case hex digits.
    BadId,
    /// No such conversation.
    NotFound,
    /// Larger than [`MAX_CONVERSATION_BYTES`].
    TooLarge,
    /// The disk said no.
    Io(std::io::Error),
}

impl std::fmt::Display for ChatStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatStoreError::BadId => write!(f, "conversation ids are 16 hex digits"),
            ChatStoreError::NotFound => write!(f, "no such conversation"),
            ChatStoreError::TooLarge => write!(
                f,
                "the conversation is larger than {} MiB; start a new one",
                MAX_CONVERSATION_BYTES >> 20
            ),
            ChatStoreError::Io(e) => write!(f, "the conversation store cannot be written: {e}"),
        }
    }
}

/// The default folder for a workspace's conversations: beside its audit folder.
pub fn default_chat_dir(workspace: &Path) -> PathBuf {
    let audit = crate::server::default_audit_dir(workspace);
    let name = audit.file_name().map(|n| n.to_owned()).unwrap_or_default();
    audit
        .parent()
        .and_then(Path::parent)
        .map(|airlock| airlock.join("chats").join(name))
        .unwrap_or_else(|| PathBuf::from(".airlock-chats"))
}

fn valid_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One workspace's conversations.
#[derive(Debug)]
pub struct ChatStore {
    dir: PathBuf,
}

impl ChatStore {
    /// Opens (creating, mode 0700) the folder.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, id: &str) -> Result<PathBuf, ChatStoreError> {
        if !valid_id(id) {
            return Err(ChatStoreError::BadId);
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// Every conversation, newest first (unreadable files are skipped).
    pub fn list(&self) -> Vec<ConversationSummary> {
        let mut out: Vec<ConversationSummary> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|item| {
                let text = std::fs::read_to_string(item.path()).ok()?;
                let c: Conversation = serde_json::from_str(&text).ok()?;
                Some(ConversationSummary {
                    id: c.id,
                    title: c.title,
                    updated_ms: c.updated_ms,
                    turns: c.turns.len(),
                })
            })
            .collect();
        out.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then(a.id.cmp(&b.id)));
        out
    }

    /// One conversation.
    pub fn get(&self, id: &str) -> Result<Conversation, ChatStoreError> {
        let text = std::fs::read_to_string(self.path(id)?).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ChatStoreError::NotFound,
            _ => ChatStoreError::Io(e),
        })?;
        serde_json::from_str(&text).map_err(|e| ChatStoreError::Io(std::io::Error::other(e)))
    }

    /// Creates or replaces a conversation (temp file, fsync, rename).
    pub fn save(&self, conversation: &Conversation) -> Result<(), ChatStoreError> {
        let path = self.path(&conversation.id)?;
        let text = serde_json::to_vec(conversation).map_err(|e| ChatStoreError::Io(e.into()))?;
        if text.len() > MAX_CONVERSATION_BYTES {
            return Err(ChatStoreError::TooLarge);
        }
        let temp = self.dir.join(format!(".{}.tmp", conversation.id));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            ChatStoreError::Io(e)
        })
    }

    /// Deletes a conversation.
    pub fn delete(&self, id: &str) -> Result<(), ChatStoreError> {
        std::fs::remove_file(self.path(id)?).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ChatStoreError::NotFound,
            _ => ChatStoreError::Io(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_protocol::chat::ChatTurn;

    fn conversation(id: &str, updated_ms: u64) -> Conversation {
        Conversation {
            id: id.into(),
            title: "How do I".into(),
            turns: vec![ChatTurn {
                role: "user".into(),
                content: "How do I?".into(),
                attachments: vec!["src/main.rs".into()],
            }],
            updated_ms,
        }
    }

    #[test]
    fn save_list_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChatStore::open(&dir.path().join("chats")).unwrap();
        store.save(&conversation("00000000000000aa", 1)).unwrap();
        store.save(&conversation("00000000000000bb", 2)).unwrap();
        let list = store.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, "00000000000000bb", "newest first");
        assert_eq!(
            store.get("00000000000000aa").unwrap(),
            conversation("00000000000000aa", 1)
        );
        store.delete("00000000000000aa").unwrap();
        assert!(matches!(
            store.get("00000000000000aa"),
            Err(ChatStoreError::NotFound)
        ));
        assert!(matches!(
            store.get("../../etc/passwd"),
            Err(ChatStoreError::BadId)
        ));
        assert!(matches!(
            store.delete("ABCDEF0000000000"),
            Err(ChatStoreError::BadId)
        ));
        let mut huge = conversation("00000000000000cc", 3);
        huge.turns[0].content = "x".repeat(MAX_CONVERSATION_BYTES);
        assert!(matches!(store.save(&huge), Err(ChatStoreError::TooLarge)));
        assert!(matches!(
            store.get("00000000000000cc"),
            Err(ChatStoreError::NotFound)
        ));
    }
}
