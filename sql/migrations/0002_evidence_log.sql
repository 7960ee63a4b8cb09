-- TDS schema, version 2: the evidence log (docs/evidence.md).
--
-- An append-only RFC 9162 Merkle tree.  Every evidence event (upload
-- verified, exchange completed, abort) is a leaf, appended in the
-- transaction that records the event.  The tree is kept as the hashes of
-- its complete subtrees: level 0 is log_leaves.leaf_hash, levels 1 and up
-- are log_nodes; log_state holds the size and the frontier (the roots of
-- the complete subtrees the size decomposes into), locked by every
-- append, so leaf indexes are gapless and in commit order.  The daemon's
-- account may insert and read these rows, never change or delete them.

CREATE TABLE IF NOT EXISTS log_leaves (
    leaf_index    BIGINT UNSIGNED NOT NULL,
    event         VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    file_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    leaf          VARBINARY(4096) NOT NULL,         -- the "tds/1 leaf" TBS
    leaf_hash     BINARY(32) NOT NULL,              -- SHA-256(0x00 || leaf)
    appended_at   DATETIME(6) NOT NULL,
    PRIMARY KEY (leaf_index),
    KEY log_leaves_hash (leaf_hash),
    KEY log_leaves_file (file_id)
) ENGINE=InnoDB;

-- Complete subtree (level >= 1, node_index) covers leaves
-- [node_index << level, (node_index + 1) << level).
CREATE TABLE IF NOT EXISTS log_nodes (
    level         TINYINT UNSIGNED NOT NULL,
    node_index    BIGINT UNSIGNED NOT NULL,
    hash          BINARY(32) NOT NULL,
    PRIMARY KEY (level, node_index)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS log_state (
    id            TINYINT UNSIGNED NOT NULL,        -- always 1
    tree_size     BIGINT UNSIGNED NOT NULL,
    frontier      VARBINARY(2056) NOT NULL,         -- merkle_frontier_encode
    PRIMARY KEY (id)
) ENGINE=InnoDB;

INSERT IGNORE INTO log_state (id, tree_size, frontier)
VALUES (1, 0, 0x0000000000000000);

-- Signed tree heads: the TTP's signature over the "tds/1 tree_head" TBS
-- and an RFC 3161 TimeStampToken over SHA-256 of the same bytes.
CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size     BIGINT UNSIGNED NOT NULL,
    root_hash     BINARY(32) NOT NULL,
    head_time     VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ttp_sig       VARBINARY(80) NOT NULL,
    timestamp_token BLOB NOT NULL,                  -- DER TimeStampToken
    signed_at     DATETIME(6) NOT NULL,
    PRIMARY KEY (tree_size)
) ENGINE=InnoDB;

-- Auditors' views of the log: enough to recompute every root and check
-- every head offline (tds audit log-recompute).
CREATE OR REPLACE SQL SECURITY DEFINER VIEW audit_log_leaves AS
SELECT leaf_index, event, file_id,
       REPLACE(TO_BASE64(leaf), '\n', '') AS leaf,
       LOWER(HEX(leaf_hash))              AS leaf_hash,
       appended_at
FROM log_leaves;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW audit_tree_heads AS
SELECT tree_size,
       LOWER(HEX(root_hash))                         AS root_hash,
       head_time,
       REPLACE(TO_BASE64(ttp_sig), '\n', '')         AS ttp_sig,
       REPLACE(TO_BASE64(timestamp_token), '\n', '') AS timestamp_token,
       signed_at
FROM tree_heads;
