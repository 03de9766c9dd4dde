"""The patient image archive's cloud film (SPEC 8.7, 9.1, 10.3): rules, matches, visibility."""
