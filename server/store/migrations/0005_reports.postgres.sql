-- Closed versions, their rows and their files never change; late records
-- only ever get their version set once.
CREATE FUNCTION report_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: a closed report version never changes', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER report_versions_frozen BEFORE UPDATE OR DELETE ON report_versions
    FOR EACH ROW EXECUTE FUNCTION report_frozen();
CREATE TRIGGER report_version_rows_frozen BEFORE UPDATE OR DELETE ON report_version_rows
    FOR EACH ROW EXECUTE FUNCTION report_frozen();
CREATE TRIGGER report_files_frozen BEFORE UPDATE OR DELETE ON report_files
    FOR EACH ROW EXECUTE FUNCTION report_frozen();

CREATE FUNCTION report_late_record_once() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.version IS NOT NULL OR NEW.version IS NULL
       OR NEW.id <> OLD.id OR NEW.month <> OLD.month OR NEW.entity <> OLD.entity OR NEW.entity_id <> OLD.entity_id THEN
        RAISE EXCEPTION 'report_late_records: a late record only gets its version once';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER report_late_records_once BEFORE UPDATE OR DELETE ON report_late_records
    FOR EACH ROW EXECUTE FUNCTION report_late_record_once();
