-- Keyed chains: the id of the audit key whose HMAC seals each link; NULL for a plain SHA-256 link
-- (records sealed before the store had a key).
ALTER TABLE audit_records ADD COLUMN key_id TEXT;
ALTER TABLE admin_events ADD COLUMN key_id TEXT;
