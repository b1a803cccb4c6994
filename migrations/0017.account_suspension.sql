-- depends: 0016.presence_privacy
-- A suspended (banned) account: every session it had is ended when it is banned, and it
-- cannot start new ones until the ban is lifted.

ALTER TABLE users
    ADD COLUMN banned_at timestamptz,
    ADD COLUMN ban_reason text
        CONSTRAINT users_ban_reason_length CHECK (char_length(ban_reason) <= 500);
