"""Reports: grids at shared latents, plots, a self-contained HTML page, a JSON of every number."""
