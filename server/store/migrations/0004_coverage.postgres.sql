CREATE FUNCTION coverage_signoffs_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'coverage_signoffs is immutable: a correction is a new sign-off';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER coverage_signoffs_no_change BEFORE UPDATE OR DELETE ON coverage_signoffs
    FOR EACH ROW EXECUTE FUNCTION coverage_signoffs_immutable();
