use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};

use crate::domain::OrgId;
use crate::storage::{check_panel_key, check_panel_prefix, PanelStore, StoreError};

/// Panels as files under `<root>/<org>/<key>`. Writes go to a temporary file renamed into
/// place, so a reader never sees half a panel.
pub struct LocalPanelStore {
    root: PathBuf,
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::backend("filesystem", e, false)
}

impl LocalPanelStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, org: &OrgId, key: &str) -> Result<PathBuf, StoreError> {
        check_panel_key(key)?;
        Ok(self.root.join(org.as_str()).join(key))
    }
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, base, out)?;
        } else if let Ok(rel) = path.strip_prefix(base) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if !rel.ends_with(".partial") {
                out.push(rel);
            }
        }
    }
    Ok(())
}

#[async_trait]
impl PanelStore for LocalPanelStore {
    async fn put_panel(&self, org: &OrgId, key: &str, data: Bytes) -> Result<(), StoreError> {
        let path = self.path(org, key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
        }
        let tmp = path.with_extension(format!("{}.partial", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &data).await.map_err(io_err)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io_err)
    }

    async fn get_panel(&self, org: &OrgId, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.path(org, key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn get_panel_with_time(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<(Bytes, chrono::DateTime<chrono::Utc>)>, StoreError> {
        let path = self.path(org, key)?;
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let modified = meta.modified().map_err(io_err)?;
        Ok(self.get_panel(org, key).await?.map(|b| (b, chrono::DateTime::<chrono::Utc>::from(modified))))
    }

    async fn list_panels(&self, org: &OrgId, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_panel_prefix(prefix)?;
        let base = self.root.join(org.as_str());
        let mut out = Vec::new();
        walk(&base, &base, &mut out).map_err(io_err)?;
        out.retain(|k| k.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    async fn link(&self, org: &OrgId, key: &str, _ttl: std::time::Duration) -> Result<String, StoreError> {
        let path = self.path(org, key)?;
        let abs = std::path::absolute(&path).map_err(io_err)?;
        Ok(format!("file://{}", abs.to_string_lossy()))
    }
}
