"""The exam PCs: enrolment, device keys and tokens, seat bindings, presence, and the commands sent to them."""
