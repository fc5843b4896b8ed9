"""Learning modules: progress, quizzes and reports."""
