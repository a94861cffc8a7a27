CREATE TRIGGER report_versions_no_update BEFORE UPDATE ON report_versions
BEGIN
    SELECT RAISE(ABORT, 'report_versions is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_versions_no_delete BEFORE DELETE ON report_versions
BEGIN
    SELECT RAISE(ABORT, 'report_versions is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_version_rows_no_update BEFORE UPDATE ON report_version_rows
BEGIN
    SELECT RAISE(ABORT, 'report_version_rows is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_version_rows_no_delete BEFORE DELETE ON report_version_rows
BEGIN
    SELECT RAISE(ABORT, 'report_version_rows is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_files_no_update BEFORE UPDATE ON report_files
BEGIN
    SELECT RAISE(ABORT, 'report_files is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_files_no_delete BEFORE DELETE ON report_files
BEGIN
    SELECT RAISE(ABORT, 'report_files is immutable: a closed report version never changes');
END;
CREATE TRIGGER report_late_records_once BEFORE UPDATE ON report_late_records
WHEN OLD.version IS NOT NULL OR NEW.version IS NULL OR NEW.id <> OLD.id OR NEW.month <> OLD.month
  OR NEW.entity <> OLD.entity OR NEW.entity_id <> OLD.entity_id
BEGIN
    SELECT RAISE(ABORT, 'report_late_records: a late record only gets its version once');
END;
CREATE TRIGGER report_late_records_no_delete BEFORE DELETE ON report_late_records
BEGIN
    SELECT RAISE(ABORT, 'report_late_records: a late record only gets its version once');
END;
