"""SUMO scenarios for evaluating controllers: Simpang's own four-leg intersection and RESCO nets."""
