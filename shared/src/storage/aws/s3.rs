use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::sdk_error;
use crate::domain::OrgId;
use crate::storage::{check_panel_key, check_panel_prefix, PanelStore, StoreError};

const BACKEND: &str = "s3";
/// Objects larger than this are uploaded in parts of this size (S3's minimum part is 5 MiB).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// Panels as S3 objects under `orgs/{org}/`.
pub struct S3PanelStore {
    client: Client,
    bucket: String,
    part_size: usize,
}

impl S3PanelStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), part_size: MULTIPART_THRESHOLD }
    }

    /// Smaller parts (at least 5 MiB), for tests of the multipart path.
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }

    pub fn object_key(org: &OrgId, key: &str) -> Result<String, StoreError> {
        check_panel_key(key)?;
        Ok(format!("orgs/{org}/{key}"))
    }

    async fn put_multipart(&self, object: &str, data: &Bytes) -> Result<(), StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(object)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        let upload_id = created.upload_id.ok_or_else(|| StoreError::backend(BACKEND, "no upload id returned", true))?;
        let result = async {
            let mut parts = Vec::new();
            for (i, chunk) in data.chunks(self.part_size).enumerate() {
                let n = i as i32 + 1;
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(object)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .body(ByteStream::from(data.slice_ref(chunk)))
                    .send()
                    .await
                    .map_err(|e| sdk_error(BACKEND, e))?;
                parts.push(CompletedPart::builder().part_number(n).set_e_tag(out.e_tag).build());
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(object)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, e))?;
            Ok::<(), StoreError>(())
        }
        .await;
        if result.is_err() {
            // Leave no orphaned parts behind (they are billed); the original error is what matters.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(object)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

#[async_trait]
impl PanelStore for S3PanelStore {
    async fn put_panel(&self, org: &OrgId, key: &str, data: Bytes) -> Result<(), StoreError> {
        let object = Self::object_key(org, key)?;
        if data.len() > self.part_size {
            return self.put_multipart(&object, &data).await;
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&object)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        Ok(())
    }

    async fn get_panel(&self, org: &OrgId, key: &str) -> Result<Option<Bytes>, StoreError> {
        let object = Self::object_key(org, key)?;
        let out = self.client.get_object().bucket(&self.bucket).key(&object).send().await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().map(|x| x.is_no_such_key()).unwrap_or(false) => return Ok(None),
            Err(e) => return Err(sdk_error(BACKEND, e)),
        };
        let body = out.body.collect().await.map_err(|e| StoreError::backend(BACKEND, e, true))?;
        Ok(Some(body.into_bytes()))
    }

    async fn get_panel_with_time(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<(Bytes, chrono::DateTime<chrono::Utc>)>, StoreError> {
        let object = Self::object_key(org, key)?;
        let out = self.client.get_object().bucket(&self.bucket).key(&object).send().await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().map(|x| x.is_no_such_key()).unwrap_or(false) => return Ok(None),
            Err(e) => return Err(sdk_error(BACKEND, e)),
        };
        let modified = out
            .last_modified
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .ok_or_else(|| StoreError::Corrupt { key: object.clone(), reason: "no Last-Modified".into() })?;
        let body = out.body.collect().await.map_err(|e| StoreError::backend(BACKEND, e, true))?;
        Ok(Some((body.into_bytes(), modified)))
    }

    async fn list_panels(&self, org: &OrgId, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_panel_prefix(prefix)?;
        let base = format!("orgs/{org}/");
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{base}{prefix}"))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, e))?;
            for obj in out.contents.unwrap_or_default() {
                if let Some(k) = obj.key.as_deref().and_then(|k| k.strip_prefix(&base)) {
                    keys.push(k.to_string());
                }
            }
            match out.next_continuation_token {
                Some(t) if out.is_truncated.unwrap_or(false) => token = Some(t),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn link(&self, org: &OrgId, key: &str, ttl: std::time::Duration) -> Result<String, StoreError> {
        let object = Self::object_key(org, key)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::backend(BACKEND, e, false))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object)
            .presigned(config)
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        Ok(req.uri().to_string())
    }
}
