-- The first schema: accounts and their credentials, RAM, instances with the notes that
-- hang off them, the audit trail and the signature nonces seen recently.
--
-- Timestamps are RFC 3339 UTC text with nanoseconds at a fixed width, so comparing the
-- text compares the instants (ORDER BY created_at, expires_at <= now).

CREATE TABLE accounts (
    uid        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE ram_users (
    account_uid  TEXT NOT NULL REFERENCES accounts (uid),
    user_name    TEXT NOT NULL,
    user_id      TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    comments     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (account_uid, user_name)
) STRICT;

-- user_name is NULL for a key of the account itself (root). SQLite does not check a
-- foreign key with a NULL column, so a root key only has to name an existing account,
-- while a user's key goes away with the user.
CREATE TABLE access_keys (
    id          TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    account_uid TEXT NOT NULL REFERENCES accounts (uid),
    user_name   TEXT,
    status      TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at  TEXT NOT NULL,
    FOREIGN KEY (account_uid, user_name) REFERENCES ram_users (account_uid, user_name) ON DELETE CASCADE
) STRICT;
CREATE INDEX access_keys_principal ON access_keys (account_uid, user_name);

-- Custom policies, and System policies copied in when first attached.
CREATE TABLE policies (
    account_uid TEXT NOT NULL REFERENCES accounts (uid),
    policy_name TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    document    TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (account_uid, policy_name)
) STRICT;

-- No cascade from policies: a policy still attached must not disappear under its users.
CREATE TABLE policy_attachments (
    account_uid TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    attached_at TEXT NOT NULL,
    PRIMARY KEY (account_uid, user_name, policy_name),
    FOREIGN KEY (account_uid, user_name) REFERENCES ram_users (account_uid, user_name) ON DELETE CASCADE,
    FOREIGN KEY (account_uid, policy_name) REFERENCES policies (account_uid, policy_name)
) STRICT;
CREATE INDEX policy_attachments_policy ON policy_attachments (account_uid, policy_name);

CREATE TABLE instances (
    id               TEXT PRIMARY KEY,
    account_uid      TEXT NOT NULL REFERENCES accounts (uid),
    region_id        TEXT NOT NULL,
    zone_id          TEXT NOT NULL,
    engine           TEXT NOT NULL,
    engine_version   TEXT NOT NULL,
    class_code       TEXT NOT NULL,
    storage_gb       INTEGER NOT NULL,
    storage_type     TEXT NOT NULL,
    status           TEXT NOT NULL,
    description      TEXT NOT NULL,
    pay_type         TEXT NOT NULL,
    category         TEXT NOT NULL,
    net_type         TEXT NOT NULL,
    network_type     TEXT NOT NULL,
    security_ip_list TEXT NOT NULL,
    host             TEXT NOT NULL,
    port             INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
    data_dir         TEXT NOT NULL,
    -- JSON array of [key, value] pairs, in the caller's order.
    tags             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
-- DescribeDBInstances: one account's instances, newest first.
CREATE INDEX instances_by_account ON instances (account_uid, created_at DESC, id);

CREATE TABLE database_notes (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    db_name     TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (instance_id, db_name)
) STRICT;

CREATE TABLE account_notes (
    instance_id  TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    account_name TEXT NOT NULL,
    account_type TEXT NOT NULL,
    description  TEXT NOT NULL,
    PRIMARY KEY (instance_id, account_name)
) STRICT;

-- Append-only, and deliberately without foreign keys: the trail of a deleted instance or
-- user outlives it. AUTOINCREMENT so an id is never reused after a purge.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_subject ON events (subject, id);

-- Signature nonces inside their validity window; a row past expires_at is garbage.
CREATE TABLE nonces (
    access_key_id TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_by_expiry ON nonces (expires_at);
