//! The sync stage: on the EventBridge schedule (`{"orgs": [...]}`) fetch every configured
//! connection's new period and land it in S3; on an S3 `ObjectCreated` event for an export
//! dropped under `orgs/{org}/drop/{connection}/`, queue it. Either way the transform stage gets
//! a message with the S3 key (payloads never travel in the queue).

liftos::event_function!(liftos::runtime::handlers::sync_event);
