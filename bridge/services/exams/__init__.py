"""What a teacher prepares: exams, their papers and question bank, sessions (sittings) and courses, and the reads and readiness checks of an exam."""
