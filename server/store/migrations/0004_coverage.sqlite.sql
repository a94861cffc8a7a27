CREATE TRIGGER coverage_signoffs_no_update BEFORE UPDATE ON coverage_signoffs
BEGIN
    SELECT RAISE(ABORT, 'coverage_signoffs is immutable: a correction is a new sign-off');
END;

CREATE TRIGGER coverage_signoffs_no_delete BEFORE DELETE ON coverage_signoffs
BEGIN
    SELECT RAISE(ABORT, 'coverage_signoffs is immutable: a correction is a new sign-off');
END;
