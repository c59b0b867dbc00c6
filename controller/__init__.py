"""Adaptive signal control: policies propose, a safety envelope disposes, actuators apply."""
