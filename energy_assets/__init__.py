"""energy_assets: a Dagster reference pipeline over a simulated neighbourhood's smart meters."""
