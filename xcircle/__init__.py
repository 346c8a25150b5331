"""xcircle: peer mentoring circles in the terminal."""
