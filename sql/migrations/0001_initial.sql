-- TDS schema, version 1.
--
-- Identifiers follow the wire contract: users and file ids are ASCII with
-- binary collation (case matters for file ids), binary values (keys,
-- signatures, nonces, digests) are binary columns, never text.
-- Times are UTC, microsecond precision.

CREATE TABLE IF NOT EXISTS users (
    user_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    public_key    VARBINARY(512) NOT NULL,          -- SubjectPublicKeyInfo DER
    key_id        BINARY(32) NOT NULL,              -- SHA-256 of public_key
    registered_at DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id),
    UNIQUE KEY users_key_id (key_id)
) ENGINE=InnoDB;

-- Step 1 -> step 3: an upload whose challenge was issued.
CREATE TABLE IF NOT EXISTS uploads_ongoing (
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    uploader      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name          VARBINARY(1024) NOT NULL,
    size          BIGINT UNSIGNED NOT NULL,
    nonce         BINARY(32) NOT NULL,
    incoming_path VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    object_path   VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- chosen at step 2, never sent before step 8
    issued_at     DATETIME(6) NOT NULL,
    expires_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (file_id),
    UNIQUE KEY uploads_ongoing_nonce (nonce),
    KEY uploads_ongoing_expiry (expires_at),
    CONSTRAINT uploads_ongoing_user FOREIGN KEY (uploader) REFERENCES users (user_id)
) ENGINE=InnoDB;

-- Verified uploads: the NRO and the object path (a capability).
CREATE TABLE IF NOT EXISTS uploads_completed (
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    uploader      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name          VARBINARY(1024) NOT NULL,
    size          BIGINT UNSIGNED NOT NULL,
    sha256        BINARY(32) NOT NULL,
    upload_nonce  BINARY(32) NOT NULL,
    nro           VARBINARY(80) NOT NULL,           -- A's DER signature
    nro_sha256    BINARY(32) NOT NULL,
    object_path   VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ttp_sig       VARBINARY(80) NOT NULL,           -- over the evidence TBS
    uploaded_at   DATETIME(6) NOT NULL,
    aborted_at    DATETIME(6) NULL,                 -- abort outcome 3
    PRIMARY KEY (file_id),
    UNIQUE KEY uploads_completed_nonce (upload_nonce),
    UNIQUE KEY uploads_completed_object (object_path),
    CONSTRAINT uploads_completed_user FOREIGN KEY (uploader) REFERENCES users (user_id)
) ENGINE=InnoDB;

-- Step 5 -> step 6: a download whose challenge was issued.
CREATE TABLE IF NOT EXISTS downloads_ongoing (
    nonce         BINARY(32) NOT NULL,
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    downloader    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    issued_at     DATETIME(6) NOT NULL,
    expires_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (nonce),
    KEY downloads_ongoing_file (file_id),
    KEY downloads_ongoing_expiry (expires_at),
    CONSTRAINT downloads_ongoing_user FOREIGN KEY (downloader) REFERENCES users (user_id)
) ENGINE=InnoDB;

-- Completed exchanges: one row per download, a downloader may download
-- the same file again (another nonce, another row).
CREATE TABLE IF NOT EXISTS downloads_completed (
    nonce         BINARY(32) NOT NULL,
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    downloader    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    nrr           VARBINARY(80) NOT NULL,           -- B's DER signature
    nrr_sha256    BINARY(32) NOT NULL,
    ttp_sig       VARBINARY(80) NOT NULL,
    completed_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (nonce),
    KEY downloads_completed_file (file_id),
    KEY downloads_completed_user (downloader),
    CONSTRAINT downloads_completed_file FOREIGN KEY (file_id) REFERENCES uploads_completed (file_id),
    CONSTRAINT downloads_completed_user FOREIGN KEY (downloader) REFERENCES users (user_id)
) ENGINE=InnoDB;

-- Every nonce ever consumed: single use survives the ongoing rows' deletion.
CREATE TABLE IF NOT EXISTS used_nonces (
    nonce         BINARY(32) NOT NULL,
    used_at       DATETIME(6) NOT NULL,
    PRIMARY KEY (nonce)
) ENGINE=InnoDB;

-- Aborts and their outcome (1 ongoing dropped, 2 deleted, 3 flagged).
-- A file id stays taken after its abort.
CREATE TABLE IF NOT EXISTS aborts (
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    uploader      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    outcome       TINYINT UNSIGNED NOT NULL,
    ttp_sig       VARBINARY(80) NOT NULL,
    aborted_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (file_id)
) ENGINE=InnoDB;

-- Transactional outbox: replies queued in the transaction that decided
-- them, published afterwards, marked sent after the delivery report.
CREATE TABLE IF NOT EXISTS outbox (
    seq           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    msg_id        BINARY(16) NOT NULL,
    request_msg_id BINARY(16) NULL,                 -- the message it answers
    topic         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    msg_key       VARBINARY(64) NULL,
    payload       MEDIUMBLOB NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    sent_at       DATETIME(6) NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY outbox_msg_id (msg_id),
    KEY outbox_pending (sent_at, seq),
    KEY outbox_request (request_msg_id)
) ENGINE=InnoDB;

-- Client messages already answered (their replies are the outbox rows
-- with this request_msg_id), so that a retry (same msg_id) gets the same
-- answer again and changes nothing.
CREATE TABLE IF NOT EXISTS processed_messages (
    msg_id        BINARY(16) NOT NULL,
    user_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    processed_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (msg_id)
) ENGINE=InnoDB;

-- Consumed offsets, stored in the transaction that applied the messages.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    group_id      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    topic         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    partition_id  INT NOT NULL,
    next_offset   BIGINT NOT NULL,
    updated_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
) ENGINE=InnoDB;

-- Auditors' view: one row per completed exchange.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW audit_exchanges AS
SELECT d.file_id,
       u.uploader,
       d.downloader,
       u.name,
       u.size,
       LOWER(HEX(u.sha256))      AS sha256,
       LOWER(HEX(u.nro_sha256))  AS nro_sha256,
       LOWER(HEX(d.nrr_sha256))  AS nrr_sha256,
       REPLACE(TO_BASE64(u.nro), '\n', '')          AS nro,
       REPLACE(TO_BASE64(d.nrr), '\n', '')          AS nrr,
       REPLACE(TO_BASE64(u.upload_nonce), '\n', '') AS upload_nonce,
       REPLACE(TO_BASE64(d.nonce), '\n', '')        AS download_nonce,
       REPLACE(TO_BASE64(d.ttp_sig), '\n', '')      AS ttp_sig,
       u.uploaded_at,
       d.completed_at,
       u.aborted_at
FROM downloads_completed d
JOIN uploads_completed u ON u.file_id = d.file_id;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW audit_uploads AS
SELECT file_id, uploader, name, size,
       LOWER(HEX(sha256))     AS sha256,
       LOWER(HEX(nro_sha256)) AS nro_sha256,
       REPLACE(TO_BASE64(nro), '\n', '')         AS nro,
       REPLACE(TO_BASE64(ttp_sig), '\n', '')     AS ttp_sig,
       uploaded_at, aborted_at
FROM uploads_completed;
