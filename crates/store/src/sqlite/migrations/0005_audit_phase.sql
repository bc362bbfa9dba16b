-- Strict durability: a forwarded tool call is recorded before it is forwarded (phase 'request') and
-- when it ends (phase 'outcome'); NULL for the one record of every other request. Outcome records
-- are indexed by request id, to find the requests that never got one.
ALTER TABLE audit_records ADD COLUMN phase TEXT;
CREATE INDEX audit_records_outcomes ON audit_records (request_id) WHERE phase = 'outcome';
