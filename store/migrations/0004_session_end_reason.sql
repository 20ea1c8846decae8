-- Why a session ended: '' (its host ended it, or left) or 'interrupted'
-- (the node serving it died and another node ended it for its viewers).
ALTER TABLE live_sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
