-- When each account without a second factor was last reminded of the 2FA mandate by mail: at most one reminder a
-- week, decided by a conditional update that one instance wins.
CREATE TABLE mandate_reminders (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sent_at BIGINT NOT NULL
);
