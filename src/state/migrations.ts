/**
 * Numbered schema migrations. Each runs once, in its own transaction, and
 * bumps `PRAGMA user_version`. Never edit a migration that has shipped: add one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: accounts, apps, access, config, releases, activity, ssh keys
  `
  CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
  );
  CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
  );
  CREATE INDEX api_keys_user ON api_keys(user_id);
  CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL COLLATE NOCASE,
    code_hash   TEXT NOT NULL UNIQUE,
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
  );
  CREATE TABLE apps (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    owner_id        INTEGER NOT NULL REFERENCES users(id),
    secret_key_base BLOB NOT NULL,
    cookie          BLOB NOT NULL,
    created_at      TEXT NOT NULL
  );
  CREATE TABLE app_access (
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('collaborator', 'viewer')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id)
  );
  CREATE TABLE config_vars (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (app_id, key)
  );
  CREATE TABLE releases (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    config      BLOB NOT NULL,
    slug        TEXT,
    git_sha     TEXT,
    status      TEXT NOT NULL,
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (app_id, version)
  );
  CREATE TABLE activity (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX activity_app ON activity(app_id, id);
  CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  TEXT NOT NULL
  );
  `,
  // 2: what a release runs: process types from the build, and the buildpacks used
  `
  ALTER TABLE releases ADD COLUMN process_types TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE releases ADD COLUMN buildpacks TEXT NOT NULL DEFAULT '[]';
  CREATE INDEX releases_app_status ON releases(app_id, status, version);
  `,
  // 3: operating running apps: formation (replicas and size per process type), maintenance
  // mode, log drains, metered usage, platform settings (prices)
  `
  CREATE TABLE formation (
    app_id  INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    process TEXT NOT NULL,
    count   INTEGER NOT NULL CHECK (count >= 0),
    size    REAL NOT NULL CHECK (size >= 0.5 AND size <= 16),
    PRIMARY KEY (app_id, process)
  );
  ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE drains (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    url        BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE usage_periods (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER REFERENCES apps(id) ON DELETE SET NULL,
    app_name   TEXT NOT NULL,
    owner_id   INTEGER NOT NULL REFERENCES users(id),
    process    TEXT NOT NULL,
    replicas   INTEGER NOT NULL,
    size       REAL NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT
  );
  CREATE INDEX usage_owner ON usage_periods(owner_id, started_at);
  CREATE INDEX usage_open ON usage_periods(app_id, process) WHERE ended_at IS NULL;
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // custom domains, and TLS certificates by host name (custom domains, <app>.<base-domain>, the
  // controller's host); a certificate's private key is encrypted like config values
  `
  CREATE TABLE domains (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
  );
  CREATE INDEX domains_app ON domains(app_id);
  CREATE TABLE certificates (
    domain          TEXT PRIMARY KEY,
    source          TEXT NOT NULL CHECK (source IN ('acme', 'manual')),
    cert            TEXT,
    key             BLOB,
    not_before      TEXT,
    not_after       TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'failed')),
    last_error      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    updated_at      TEXT NOT NULL
  );
  `,
  // managed PostgreSQL: one server per app (password encrypted like config values), and its
  // backups; backup rows are found by app id, never by name alone
  `
  CREATE TABLE databases (
    app_id       INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    size         REAL NOT NULL,
    password     BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('creating', 'available', 'scaling', 'restoring', 'failed')),
    error        TEXT,
    container_id TEXT,
    volume       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
  );
  CREATE TABLE backups (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER REFERENCES apps(id) ON DELETE CASCADE,
    app_name    TEXT NOT NULL,
    file        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('daily', 'manual', 'final')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    size        INTEGER,
    sha256      TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX backups_app ON backups(app_id, id);
  `,
  // hot upgrades: a release installed into the running replicas of another one (its
  // version here) runs in their containers, which keep that release's label
  `
  ALTER TABLE releases ADD COLUMN hot_from INTEGER;
  `,
  // PostgreSQL on another Swarm host (pg:create --node): that host's node id; NULL = this host
  `
  ALTER TABLE databases ADD COLUMN node TEXT;
  `,
  // the supervisor's restart counts, so they survive a daemon restart
  `
  CREATE TABLE revivals (
    replica_id TEXT PRIMARY KEY,
    count      INTEGER NOT NULL
  );
  `,
  // app.json and the Procfile's release phase: what a release carries besides its process
  // types (lib/app-manifest.ts, JSON); and each cron entry's runs, kept across restarts
  `
  ALTER TABLE releases ADD COLUMN manifest TEXT;
  CREATE TABLE cron_runs (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    entry       TEXT NOT NULL,
    release     INTEGER NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    exit_code   INTEGER,
    detail      TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX cron_runs_entry ON cron_runs(app_id, entry, id);
  `,
  // multi-factor authentication: each account's TOTP secret (encrypted like config values,
  // bound to the account), 'pending' until a first code confirms it, the last time step
  // accepted (a code works once), and its recovery codes as SHA-256 hashes
  `
  CREATE TABLE mfa (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'active')),
    last_step    INTEGER,
    created_at   TEXT NOT NULL,
    activated_at TEXT
  );
  CREATE TABLE mfa_recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES mfa(user_id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (user_id, code_hash)
  );
  `,
  // pg:stop: a database can be 'stopped' (kept, not revived, until pg:start); SQLite
  // changes a CHECK only by rebuilding the table (nothing references it)
  `
  CREATE TABLE databases_next (
    app_id       INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    size         REAL NOT NULL,
    password     BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('creating', 'available', 'scaling', 'restoring', 'stopped', 'failed')),
    error        TEXT,
    container_id TEXT,
    volume       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    node         TEXT
  );
  INSERT INTO databases_next (app_id, version, size, password, state, error, container_id, volume, created_at, updated_at, node)
    SELECT app_id, version, size, password, state, error, container_id, volume, created_at, updated_at, node FROM databases;
  DROP TABLE databases;
  ALTER TABLE databases_next RENAME TO databases;
  `,
  // pg:read_replicas:create: the state of an app's read replica (null: it has none)
  `
  ALTER TABLE databases ADD COLUMN replica TEXT CHECK (replica IN ('creating', 'available', 'failed'));
  `,
];
