-- Login (API.md, POST /v1/sessions): a user's password, only as an Argon2id
-- hash in PHC string form. Users created before passwords existed have none
-- and cannot log in until an operator sets one.
ALTER TABLE users ADD COLUMN password_hash TEXT
    CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%');
