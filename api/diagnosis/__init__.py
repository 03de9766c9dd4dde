"""Remote diagnosis requests (SPEC 2.2): the API over ``store.diagnosis``."""
