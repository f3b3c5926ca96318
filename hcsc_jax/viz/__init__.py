"""Visual reports of the hierarchy: statistics, figures, the HTML report."""
