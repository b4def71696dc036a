"""Class-wide and platform outputs built from graded results: Canvas and summary CSV, JUnit XML,
Gradescope and GitHub Classroom."""
