-- Accounts of a TDS database, applied after the migrations by the admin.
-- Re-runnable.  Expects @host (account host part), @ttp_password and
-- @auditor_password to be set by the caller; passwords never live here.
--
-- tds_ttp: the daemon.  Only DML, only on its own tables.
-- tds_auditor: read-only, only the audit views.

EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS tds_ttp@', QUOTE(@host),
                         ' IDENTIFIED BY ', QUOTE(@ttp_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER tds_ttp@', QUOTE(@host),
                         ' IDENTIFIED BY ', QUOTE(@ttp_password));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT ON tds.schema_migrations TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.users TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.uploads_ongoing TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.uploads_completed TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.downloads_ongoing TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.downloads_completed TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT ON tds.used_nonces TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT ON tds.aborts TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON tds.outbox TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, DELETE ON tds.processed_messages TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT, UPDATE ON tds.consumer_offsets TO tds_ttp@', QUOTE(@host));

-- The evidence log is append-only: no UPDATE or DELETE but on its state row.
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT ON tds.log_leaves TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT ON tds.log_nodes TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, UPDATE ON tds.log_state TO tds_ttp@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT, INSERT ON tds.tree_heads TO tds_ttp@', QUOTE(@host));

EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS tds_auditor@', QUOTE(@host),
                         ' IDENTIFIED BY ', QUOTE(@auditor_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER tds_auditor@', QUOTE(@host),
                         ' IDENTIFIED BY ', QUOTE(@auditor_password));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT ON tds.audit_exchanges TO tds_auditor@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT ON tds.audit_uploads TO tds_auditor@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT ON tds.audit_log_leaves TO tds_auditor@', QUOTE(@host));
EXECUTE IMMEDIATE CONCAT('GRANT SELECT ON tds.audit_tree_heads TO tds_auditor@', QUOTE(@host));
