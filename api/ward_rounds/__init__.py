"""Remote ward rounds (SPEC 4): a county hospital's ward doctor applies for a round with
experts of the leading hospital and the patient's cloud examinations; everybody joins the
room at its time, starts the meeting, and the round ends with the ward-round record."""
