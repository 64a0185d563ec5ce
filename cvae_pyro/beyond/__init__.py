"""Beyond the paper: other conditions, any mask, label generation, pictures, figures."""
