"""Detector models: the typed ``Detections`` container, vehicle classes and one adapter per model family."""
