"""Reference data staff keep: categories, departments, the working-day calendar."""
