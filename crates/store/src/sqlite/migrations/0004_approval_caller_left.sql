-- When a held call's caller stopped waiting (told to retry, or gone): from then on the identical retry may
-- use the approval. A retry-mode caller is answered at once, so its approvals have it from creation.

ALTER TABLE approvals ADD COLUMN caller_left_at_ms INTEGER;
UPDATE approvals SET caller_left_at_ms = created_at_ms WHERE mode = 'retry';
