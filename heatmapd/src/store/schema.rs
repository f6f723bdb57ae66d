//! Schema of the queue database and its migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    state         TEXT NOT NULL,
    spec          TEXT NOT NULL,
    temperatures  TEXT NOT NULL,
    prompts       TEXT NOT NULL,
    prompts_hash  TEXT NOT NULL,
    sessions      TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    error         TEXT
);
CREATE TABLE items (
    id                INTEGER PRIMARY KEY,
    job_id            INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    temperature       REAL NOT NULL,
    prompt_index      INTEGER NOT NULL,
    prompt_id         TEXT NOT NULL,
    repeat            INTEGER NOT NULL,
    seed              INTEGER,
    state             TEXT NOT NULL DEFAULT 'pending',
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    answer_path       TEXT,
    sent              TEXT,
    finish_reason     TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    latency_ms        REAL,
    server_ms         REAL,
    thinking_path     TEXT,
    grade_path        TEXT,
    accuracy          REAL,
    grade_error       TEXT,
    finished_at       TEXT
);
CREATE INDEX items_by_job ON items(job_id, state);
"#];

/// Applies every migration the database has not seen yet.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}
