"""Remote diagnosis requests (SPEC 2.2): the API over ``api.diagnosis.steps``."""
