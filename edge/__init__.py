"""The edge box: capture, detect, track, measure, control, publish, run."""
